"""The controller's P4Runtime client against a real server (in-memory target)."""

import asyncio

import pytest

from s6nf.agent.p4rt import Forward, MemoryBackend, serve
from s6nf.controller.model import Steer
from s6nf.controller.p4rt_client import (
    DeviceConfig,
    NotPrimary,
    P4RuntimeClient,
    P4RuntimeWriteError,
)

pytestmark = pytest.mark.timeout(30)
A, B = Steer(1, bytes.fromhex("020000000001")), Steer(2, bytes.fromhex("020000000002"))


def test_a_lower_election_id_is_not_primary():
    async def body(address):
        first = P4RuntimeClient(DeviceConfig(address, election_id=(0, 5)))
        second = P4RuntimeClient(DeviceConfig(address, election_id=(0, 1)))
        await first.connect()
        try:
            with pytest.raises(NotPrimary):
                await second.connect()
        finally:
            await second.close()
            await first.close()

    with serve(MemoryBackend(), "127.0.0.1:0", device_id=1) as server:
        asyncio.run(body(server.address))


def test_a_refused_batch_names_each_failed_update():
    async def body(address):
        client = P4RuntimeClient(DeviceConfig(address))
        await client.connect()
        await client.ensure_pipeline()
        await client.write_key_space({3: A}, present=set())
        with pytest.raises(P4RuntimeWriteError) as err:
            await client.write_key_space({2: A, 3: B}, present=set())
        await client.close()
        return err.value.failures

    backend = MemoryBackend()
    with serve(backend, "127.0.0.1:0", device_id=1) as server:
        failures = asyncio.run(body(server.address))
    assert [(i, code) for i, code, _ in failures] == [(0, "ABORTED"), (1, "ALREADY_EXISTS")]
    assert set(backend.read_key_space()) == {3}


def test_pipeline_is_pushed_once_and_tables_survive_a_second_controller():
    async def body(address):
        for steer in (A, B):
            client = P4RuntimeClient(DeviceConfig(address))
            await client.connect()
            await client.ensure_pipeline()
            present = set(await client.read_key_space())
            await client.write_key_space({1: steer}, present)
            await client.close()

    backend = MemoryBackend()
    with serve(backend, "127.0.0.1:0", device_id=1) as server:
        asyncio.run(body(server.address))
    assert backend.read_key_space()[1] == Forward(B.port, B.dmac)


def test_a_write_after_the_target_restarts_reconnects_and_lands():
    backend = MemoryBackend()

    async def body():
        first = serve(backend, "127.0.0.1:0", device_id=1, preloaded=True)
        port = first.port
        client = P4RuntimeClient(DeviceConfig(f"127.0.0.1:{port}"))
        await client.connect()
        await client.write_key_space({5: A}, present=set())
        first.stop(grace=None)
        with serve(backend, f"127.0.0.1:{port}", device_id=1, preloaded=True):
            await client.write_key_space({5: B}, present={5})
        await client.close()

    asyncio.run(body())
    assert backend.read_key_space()[5] == Forward(B.port, B.dmac)


def test_the_controller_waits_for_a_target_that_starts_after_it(tmp_path):
    import socket

    from s6nf.controller.app import Controller, ControllerSettings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = ControllerSettings("127.0.0.1:0", DeviceConfig(f"127.0.0.1:{port}"),
                                  tmp_path / "state.json", target_wait_s=20)

    async def body():
        controller = Controller(settings)
        entering = asyncio.create_task(controller.__aenter__())
        while controller.target_failures == 0:
            assert not entering.done(), entering
            await asyncio.sleep(0.01)
        with serve(MemoryBackend(), f"127.0.0.1:{port}", device_id=1):
            await entering
            await controller.__aexit__(None, None, None)
        return controller.target_failures

    assert asyncio.run(body()) >= 1


def test_a_target_that_never_comes_is_a_clear_error(tmp_path):
    from s6nf.controller.app import Controller, ControllerSettings

    settings = ControllerSettings("127.0.0.1:0", DeviceConfig("127.0.0.1:1"),
                                  tmp_path / "state.json", target_wait_s=0.3)

    async def body():
        async with Controller(settings):
            pass

    with pytest.raises(ConnectionError, match=r"gave up after 0\.3 s"):
        asyncio.run(body())
