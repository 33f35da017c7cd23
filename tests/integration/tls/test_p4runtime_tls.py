"""The P4Runtime channel with mutual TLS: the controller's client writes and reads; a client
without a valid certificate can neither write, read nor arbitrate, and the tables stay
empty."""

import asyncio
import logging

import grpc
import pytest
from p4.v1 import p4runtime_pb2

from s6nf.agent.p4rt import MemoryBackend, serve
from s6nf.controller.model import Steer
from s6nf.controller.p4rt_client import DeviceConfig, P4RuntimeClient
from s6nf.tls.channels import channel_credentials
from tests.integration.tls.conftest import BAD_CLIENTS, TIMEOUT
from tests.p4rt_client import KS, Client, ks_entry, update

pytestmark = pytest.mark.timeout(60)
STEER = Steer(3, bytes.fromhex("020000000007"))


@pytest.fixture
def target(pki):
    backend = MemoryBackend()
    with serve(backend, "127.0.0.1:0", device_id=1, preloaded=True,
               tls=pki.material("switch")) as server:
        yield server, backend


def read_all(client: Client) -> list[p4runtime_pb2.Entity]:
    request = p4runtime_pb2.ReadRequest(device_id=1)
    request.entities.add().table_entry.table_id = KS.id
    return [e for r in client.stub.Read(request, timeout=TIMEOUT) for e in r.entities]


def test_the_controller_writes_and_reads_over_mutual_tls(pki, target):
    server, backend = target

    async def scenario():
        client = P4RuntimeClient(DeviceConfig(server.address), pki.material("controller"))
        try:
            await client.connect()
            await client.write_key_space({5: STEER}, set())
            return await client.read_key_space()
        finally:
            await client.close()

    assert asyncio.run(scenario()) == {5: STEER}
    assert set(backend.read_key_space()) == {5}


@pytest.mark.parametrize("how", BAD_CLIENTS)
def test_a_client_without_a_valid_certificate_reads_and_writes_nothing(pki, target, how):
    server, backend = target
    client = Client(server.address, credentials=pki.bad_credentials(how, "controller"))
    try:
        with pytest.raises(grpc.RpcError) as arbitration:
            client.arbitrate((0, 1))
        assert arbitration.value.code() == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(grpc.RpcError) as wrote:
            client.write(update(p4runtime_pb2.Update.INSERT, ks_entry(5)), election_id=(0, 1))
        assert wrote.value.code() == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(grpc.RpcError):
            read_all(client)
    finally:
        client.close()
    assert backend.read_key_space() == {}


def test_a_certificate_of_another_role_is_refused_and_logged(pki, target, caplog):
    server, backend = target
    caplog.set_level(logging.WARNING, logger="s6nf.tls.peers")
    agent = Client(server.address, credentials=channel_credentials(pki.material("nf0")))
    try:
        with pytest.raises(grpc.RpcError) as info:
            read_all(agent)
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.RpcError) as wrote:
            agent.write(update(p4runtime_pb2.Update.INSERT, ks_entry(5)), election_id=(0, 1))
        assert wrote.value.code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        agent.close()
    assert backend.read_key_space() == {}
    assert "P4Runtime refused /p4.v1.P4Runtime/Read" in caplog.text
    assert "'nf0' has role 'agent'" in caplog.text
