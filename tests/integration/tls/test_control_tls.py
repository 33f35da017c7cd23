"""The controller's API and an agent's control service with mutual TLS: the agent registers,
the controller scales it, the operator's CLI certificate reads the status; a client without
a valid certificate reads and changes nothing on either service."""

import asyncio
import contextlib
import json
import logging

import grpc
import pytest

from s6nf.agent.control import SERVICE as AGENT
from s6nf.agent.p4rt import MemoryBackend, serve
from s6nf.agent.process import AgentProcess, AgentSettings
from s6nf.controller.app import SERVICE as CONTROLLER
from s6nf.controller.app import Controller, ControllerSettings
from s6nf.controller.heartbeats import SERVICE as HEARTBEATS
from s6nf.controller.p4rt_client import DeviceConfig
from s6nf.rpc import JsonClient
from s6nf.tls.channels import channel_credentials
from tests.integration.tls.conftest import BAD_CLIENTS, TIMEOUT, aio_channel

pytestmark = pytest.mark.timeout(60)
BEAT = {"instance": 0, "stalled_s": 0.0}
REGISTER = {"instance": 7, "control": "127.0.0.1:1", "state": "127.0.0.1:2", "port": 8,
            "dmac": "02:00:00:00:00:08"}
ADOPT = {"key_space": {"epoch": 9, "owners": [0] * 4096}}


@contextlib.asynccontextmanager
async def control_plane(pki, tmp_path):
    """A TLS target, controller and agent 0 (registered); yields (controller, agent)."""
    with serve(MemoryBackend(), "127.0.0.1:0", tls=pki.material("switch")) as target:
        settings = ControllerSettings("127.0.0.1:0", DeviceConfig(target.address),
                                      tmp_path / "state.json", target_wait_s=5,
                                      tls=pki.material("controller"))
        async with Controller(settings) as controller:
            agent = AgentProcess(AgentSettings(
                0, f"127.0.0.1:{controller.port}", "127.0.0.1", 1, "02:00:00:00:00:01",
                heartbeat_s=0.05, tls=pki.material("nf0")))
            task = asyncio.create_task(agent.run(), name="agent-0")
            try:
                await asyncio.wait_for(agent.ready.wait(), TIMEOUT)
                yield controller, agent
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)


async def call(address, credentials, method, request):
    """``method`` with raw credentials; the status code (OK on success)."""
    channel = aio_channel(address, credentials)
    try:
        await channel.unary_unary(method)(json.dumps(request).encode(), timeout=TIMEOUT)
        return grpc.StatusCode.OK
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    finally:
        await channel.close()


def test_agent_controller_and_operator_talk_over_mutual_tls(pki, tmp_path):
    async def scenario():
        async with control_plane(pki, tmp_path) as (controller, agent):
            outcome = await controller.scale_to(1)
            registered = controller.beats.snapshot()[0].at
            while controller.beats.snapshot()[0].at == registered:
                await asyncio.sleep(0.01)
            client = JsonClient(f"127.0.0.1:{controller.port}", CONTROLLER,
                                tls=pki.material("client"))
            try:
                status = await client.call("Status")
            finally:
                await client.close()
            return outcome.ok, agent.dso.epoch, status

    ok, epoch, status = asyncio.run(scenario())
    assert ok and epoch == 1
    assert status["epoch"] == 1 and [m["instance"] for m in status["members"]] == [0]


@pytest.mark.parametrize("how", BAD_CLIENTS)
def test_a_client_without_a_valid_certificate_reads_and_writes_nothing(pki, tmp_path, how):
    async def scenario():
        async with control_plane(pki, tmp_path) as (controller, agent):
            api = f"127.0.0.1:{controller.port}"
            control = controller.state.members[0].control
            beats = f"127.0.0.1:{controller.heartbeat_port}"
            codes = [
                await call(beats, pki.bad_credentials(how, "nf0"), f"/{HEARTBEATS}/Beat", BEAT),
                await call(api, pki.bad_credentials(how, "client"),
                           f"/{CONTROLLER}/Status", {}),
                await call(api, pki.bad_credentials(how, "nf1"),
                           f"/{CONTROLLER}/Register", REGISTER),
                await call(api, pki.bad_credentials(how, "client"),
                           f"/{CONTROLLER}/Scale", {"instances": 1}),
                await call(control, pki.bad_credentials(how, "controller"),
                           f"/{AGENT}/Status", {}),
                await call(control, pki.bad_credentials(how, "controller"),
                           f"/{AGENT}/Adopt", ADOPT),
            ]
            return codes, sorted(controller.state.members), controller.state.key_space, \
                agent.dso.epoch

    codes, members, key_space, epoch = asyncio.run(scenario())
    assert codes == [grpc.StatusCode.UNAVAILABLE] * 6
    assert members == [0]
    assert key_space is None
    assert epoch == 0


def test_certificates_of_other_roles_are_refused_and_logged(pki, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="s6nf.tls.peers")

    async def scenario():
        async with control_plane(pki, tmp_path) as (controller, agent):
            api = f"127.0.0.1:{controller.port}"
            control = controller.state.members[0].control
            switch = channel_credentials(pki.material("switch"))
            operator = channel_credentials(pki.material("client"))
            beats = f"127.0.0.1:{controller.heartbeat_port}"
            codes = [await call(api, switch, f"/{CONTROLLER}/Register", REGISTER),
                     await call(control, operator, f"/{AGENT}/Adopt", ADOPT),
                     await call(beats, operator, f"/{HEARTBEATS}/Beat", BEAT)]
            return codes, sorted(controller.state.members), agent.dso.epoch

    codes, members, epoch = asyncio.run(scenario())
    assert codes == [grpc.StatusCode.PERMISSION_DENIED] * 3
    assert members == [0] and epoch == 0
    assert "s6nf.Controller refused /s6nf.Controller/Register" in caplog.text
    assert "s6nf.Agent refused /s6nf.Agent/Adopt" in caplog.text
    assert "s6nf.Heartbeat refused /s6nf.Heartbeat/Beat" in caplog.text
    assert "'client' has role 'client'" in caplog.text
