"""The P4Runtime server over the eBPF target: what a client writes is what packets meet."""

import grpc
import pytest
from p4.v1 import p4runtime_pb2

from s6nf.agent.loader import load
from s6nf.agent.maps import SteeringMaps
from s6nf.agent.p4rt import Drop, Forward, serve
from s6nf.agent.p4rt.ebpf_backend import EbpfBackend
from s6nf.agent.test_run import XDP_DROP, XDP_REDIRECT, run_xdp
from s6nf.keys import FlowKey
from tests.datapath import packets as pk
from tests.p4rt_client import (
    COUNTER,
    Client,
    batch_errors,
    drop_action,
    ks_entry,
    pin_entry,
    update,
)

pytestmark = [pytest.mark.root, pytest.mark.timeout(30)]

INSERT, MODIFY, DELETE = (p4runtime_pb2.Update.INSERT, p4runtime_pb2.Update.MODIFY,
                          p4runtime_pb2.Update.DELETE)
FLOW = FlowKey.of("10.1.0.1", "10.2.0.1", 40000, 80, 6)
PACKET = pk.tcp(src="10.1.0.1", dst="10.2.0.1", sport=40000, dport=80)
MAC_A, MAC_B = bytes.fromhex("020000000a0a"), bytes.fromhex("020000000b0b")


@pytest.fixture
def target():
    prog = load("steer")
    maps = SteeringMaps.of(prog)
    maps.set_port(1, 101)
    maps.set_port(2, 102)
    with serve(EbpfBackend(maps), "127.0.0.1:0", device_id=1) as server:
        client = Client(server.address, device_id=1)
        assert client.arbitrate((0, 1)).status.code == 0
        client.set_pipeline(p4runtime_pb2.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT)
        yield prog, maps, client
        client.close()
    maps.close()
    prog.close()


def test_key_space_written_over_p4runtime_steers_packets(target):
    prog, maps, client = target
    assert run_xdp(prog.fd, PACKET).action == XDP_DROP
    client.write(update(INSERT, ks_entry(FLOW.bucket(), port=1, dmac=MAC_A)))
    result = run_xdp(prog.fd, PACKET)
    assert result.action == XDP_REDIRECT and result.packet[:6] == MAC_A
    dropping = ks_entry(FLOW.bucket(), port=None)
    dropping.action.CopyFrom(drop_action())
    client.write(update(MODIFY, dropping))
    assert run_xdp(prog.fd, PACKET).action == XDP_DROP
    assert EbpfBackend(maps).read_key_space() == {FLOW.bucket(): Drop()}
    client.write(update(DELETE, ks_entry(FLOW.bucket())))
    assert EbpfBackend(maps).read_key_space() == {}


def test_a_pin_overrides_its_bucket_and_reads_back(target):
    prog, maps, client = target
    client.write(update(INSERT, ks_entry(FLOW.bucket(), port=1, dmac=MAC_A)),
                 update(INSERT, pin_entry(FLOW.canonical(), port=2, dmac=MAC_B)))
    assert run_xdp(prog.fd, PACKET).packet[:6] == MAC_B
    assert run_xdp(prog.fd, pk.tcp(src="10.2.0.1", dst="10.1.0.1", sport=80,
                                   dport=40000)).packet[:6] == MAC_B
    assert EbpfBackend(maps).read_flow_pins() == {FLOW.canonical(): Forward(2, MAC_B)}
    client.write(update(DELETE, pin_entry(FLOW.canonical())))
    assert run_xdp(prog.fd, PACKET).packet[:6] == MAC_A


def test_a_failed_batch_leaves_the_data_plane_unchanged(target):
    prog, maps, client = target
    client.write(update(INSERT, ks_entry(FLOW.bucket(), port=1, dmac=MAC_A)))
    before = maps.key_space()
    with pytest.raises(grpc.RpcError) as failure:
        client.write(update(MODIFY, ks_entry(FLOW.bucket(), port=2, dmac=MAC_B)),
                     update(INSERT, ks_entry(FLOW.bucket(), port=2, dmac=MAC_B)))
    codes = [code for code, _ in batch_errors(failure.value)]
    assert codes[1] == grpc.StatusCode.ALREADY_EXISTS.value[0]
    assert [bytes(t) for t in maps.key_space()] == [bytes(t) for t in before]
    assert run_xdp(prog.fd, PACKET).packet[:6] == MAC_A


def test_bucket_counters_read_over_p4runtime_count_packets(target):
    prog, _maps, client = target
    for _ in range(3):
        run_xdp(prog.fd, PACKET)
    entity = p4runtime_pb2.Entity()
    entity.counter_entry.counter_id = COUNTER.id
    entity.counter_entry.index.index = FLOW.bucket()
    (read,) = client.read(entity)
    assert read.counter_entry.data.packet_count == 3
