"""The NAT on the embedded testbed: two instances with their agents (slow path, port pool,
re-injection by AF_PACKET) under the controller, each in its host's namespace over the
management network; every packet sent is translated, received in order, and no public port
serves two flows (root only)."""

import dataclasses
import os

import pytest

from s6nf.agent.maps import SinkCounters
from s6nf.agent.verdicts import Reason
from s6nf.keys import FlowKey
from s6nf.nfs.nat_maps import NatTables
from s6nf.testbed.run import run_trace
from s6nf.testbed.services import management_services
from s6nf.testbed.testbed import Testbed
from s6nf.testbed.topology import default_config, gen_link, instance_host
from s6nf.testbed.workload import WorkloadSpec, generate

pytestmark = [pytest.mark.root, pytest.mark.timeout(240)]
PUBLIC = "198.51.100.1"
PUBLIC_INT = 0xC6336401
NAT_OPTIONS = {"public": PUBLIC, "ports": "10000-59999", "idle_timeout_s": "600",
               "close_linger_s": "600"}
"""Expiry held off: the test reads every flow's entry after the run."""


@pytest.fixture(scope="module")
def bed(tmp_path_factory):
    base = default_config()
    config = dataclasses.replace(base, nf=dataclasses.replace(base.nf, name="nat"))
    tb = Testbed(f"nt{os.getpid() % 100000}", config=config)
    tb.up(2, steer=False)
    try:
        yield tb, tmp_path_factory.mktemp("nat")
    finally:
        tb.down()


def nat_entries(tb):
    out = {}
    for i in tb.topology().instances:
        with NatTables.pinned(tb.pin_dir(instance_host(i))) as nat:
            for key, entry in nat.entries().items():
                assert key not in out, "an entry is live at two instances"
                out[key] = (i, entry)
    return out


def forget_flows(tb):
    """Empty the instances' NAT maps: a later run's agents start holding nothing."""
    for i in tb.topology().instances:
        with NatTables.pinned(tb.pin_dir(instance_host(i))) as nat:
            flows = nat.flows()
            for key in list(flows.keys()):
                flows.delete(key)


def run_nat(tb, tmp, workload):
    """The controller, two NAT agents and the trace; the run's report and the entries."""
    with management_services(tb, tmp / f"{workload.path.stem}.state.json",
                             nf_options=NAT_OPTIONS) as plane:
        plane.wait_registered(2)
        outcome = plane.scale_to(2)
        assert outcome["ok"], outcome
        return run_trace(tb, workload.path, 20_000), nat_entries(tb)


def test_every_packet_is_translated_in_order_with_unique_public_ports(bed):
    tb, tmp = bed
    spec = WorkloadSpec(flows=1500, concurrency=300, rate_pps=20_000, one_way=True,
                        dst_mac=gen_link().b.mac, seed=11)
    workload = generate(tmp / "nat.pcap", spec)
    report, entries = run_nat(tb, tmp, workload)
    assert report.problems() == []
    assert report.sent.sent == workload.packets

    forward = {k: e for k, (_, e) in entries.items() if not e.reverse}
    reverse = {k: e for k, (_, e) in entries.items() if e.reverse}
    assert len(forward) == len(reverse) == len(workload.flows)
    ports = [int.from_bytes(e.new_sport.to_bytes(2, "little"), "big") for e in forward.values()]
    assert len(set(ports)) == len(ports) and all(10000 <= p <= 59999 for p in ports)

    with SinkCounters.pinned(tb.pin_dir("sink")) as sink:
        received = sink.records()
        reasons = sink.reason_counts()
    assert reasons.get(Reason.NOTE_REORDERED, 0) == 0
    for flow, size in workload.flows.items():
        entry = forward[flow.canonical()]
        port = int.from_bytes(entry.new_sport.to_bytes(2, "little"), "big")
        translated = FlowKey(PUBLIC_INT, flow.dst, port, flow.dport, flow.proto)
        got = received[FlowKey(*_lower_first(translated))]
        assert got.packets == size and got.reordered == 0
        assert entry.packets == size
    with NatTables.pinned(tb.pin_dir(instance_host(0))) as nat:
        assert nat.reason_counts().get(Reason.PUNTED, 0) > 0


def _lower_first(key):
    a, b = (key.src, key.sport), (key.dst, key.dport)
    lo, hi = (a, b) if a <= b else (b, a)
    return lo[0], hi[0], lo[1], hi[1], key.proto


def test_replies_come_back_through_the_reverse_entries_to_the_inside_addresses(bed):
    tb, tmp = bed
    forget_flows(tb)
    tb.up(2, steer=False, reflect=True)
    try:
        spec = WorkloadSpec(flows=1000, concurrency=200, rate_pps=20_000, one_way=True,
                            dst_mac=gen_link().b.mac, seed=12)
        workload = generate(tmp / "nat-replies.pcap", spec)
        report, entries = run_nat(tb, tmp, workload)
        assert report.problems() == []
        assert report.sent.sent == workload.packets
        reverse = [e for _, e in entries.values() if e.reverse]
        assert sum(e.packets for e in reverse) >= workload.packets
        with SinkCounters.pinned(tb.returns_pin_dir) as gen:
            replies = gen.records()
        for flow, size in workload.flows.items():
            back = replies[FlowKey(*_lower_first(flow))]
            assert back.packets == size and back.reordered == 0
    finally:
        tb.up(2, steer=False, reflect=False)
