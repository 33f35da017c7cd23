"""The asset monitor on the embedded testbed: two instances whose agents run its slow path
(punt ring, entries created by the agent, re-injection by AF_PACKET) under the controller,
each in its host's namespace over the management network; every packet arrives in order,
every flow's entry is at one instance and counts all its packets, and the assets the agents'
control services list are the trace's (root only)."""

import os
import time
from collections import Counter
from ipaddress import IPv4Address

import pytest

from s6nf import cli_nf
from s6nf.agent.bpfmap import BpfMap
from s6nf.agent.maps import FlowTable, SinkCounters
from s6nf.agent.structs import FlowKeyC, FlowStats
from s6nf.agent.verdicts import Reason
from s6nf.testbed.run import run_trace
from s6nf.testbed.services import management_services
from s6nf.testbed.testbed import Testbed
from s6nf.testbed.topology import gen_link, instance_host
from s6nf.testbed.workload import WorkloadSpec, generate

pytestmark = [pytest.mark.root, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def bed(tmp_path_factory):
    tb = Testbed(f"mt{os.getpid() % 100000}")
    tb.up(2, steer=False)
    try:
        yield tb, tmp_path_factory.mktemp("monitor")
    finally:
        tb.down()


def test_agents_create_entries_in_order_and_list_the_traces_assets(bed):
    tb, tmp = bed
    spec = WorkloadSpec(flows=800, concurrency=200, rate_pps=10_000,
                        dst_mac=gen_link().b.mac, seed=5)
    workload = generate(tmp / "monitor.pcap", spec)
    with management_services(tb, tmp / "state.json", nf_options={}) as plane:
        plane.wait_registered(2)
        outcome = plane.scale_to(2)
        assert outcome["ok"], outcome
        report = run_trace(tb, workload.path, 10_000)
        time.sleep(0.5)
        assets = cli_nf.merge_assets(plane.call_agents("Assets"))
    assert report.problems() == []
    entries = {}
    for i in tb.topology().instances:
        with FlowTable.pinned(tb.pin_dir(instance_host(i))) as table:
            assert table.reason_counts().get(Reason.PUNTED, 0) > 0
            for key, stats in table.entries().items():
                assert key.canonical() not in entries, "a flow's entry at two instances"
                entries[key.canonical()] = stats
    with SinkCounters.pinned(tb.pin_dir("sink")) as sink:
        assert sink.reason_counts().get(Reason.NOTE_REORDERED, 0) == 0
    for flow, size in workload.flows.items():
        assert entries[flow.canonical()].packets == size

    hosts: Counter[str] = Counter()
    services: dict[str, Counter[str]] = {}
    for flow in workload.flows:
        hosts[str(IPv4Address(flow.src))] += 1
        hosts[str(IPv4Address(flow.dst))] += 1
        name = f"{'tcp' if flow.proto == 6 else 'udp'}/{flow.dport}"
        server = services.setdefault(str(IPv4Address(flow.dst)), Counter())
        server[name] += 1
    assert {a: v["flows"] for a, v in assets["assets"].items()} == dict(hosts)
    assert {a: v["services"] for a, v in assets["assets"].items() if v["services"]} == {
        a: dict(s) for a, s in services.items()}
    tcp = sum(1 for f in workload.flows if f.proto == 6)
    assert assets["totals"] == {"new_tcp": tcp, "new_udp": len(workload.flows) - tcp,
                                "handshakes": tcp}


def test_replies_reflected_by_the_sink_are_counted_on_their_flows_entry(bed):
    tb, tmp = bed
    for i in tb.topology().instances:
        path = str(tb.pin_dir(instance_host(i)) / "flows")
        with BpfMap.pinned(path, FlowKeyC, FlowStats) as flows:
            for key in list(flows.keys()):
                flows.delete(key)
    tb.up(2, steer=False, reflect=True)
    try:
        spec = WorkloadSpec(flows=500, concurrency=100, rate_pps=10_000, one_way=True,
                            dst_mac=gen_link().b.mac, seed=6)
        workload = generate(tmp / "monitor-replies.pcap", spec)
        with management_services(tb, tmp / "replies.state.json", nf_options={}) as plane:
            plane.wait_registered(2)
            outcome = plane.scale_to(2)
            assert outcome["ok"], outcome
            report = run_trace(tb, workload.path, 10_000)
        assert report.problems() == []
        counted = {}
        for i in tb.topology().instances:
            with FlowTable.pinned(tb.pin_dir(instance_host(i))) as table:
                counted.update({k.canonical(): s.packets for k, s in table.entries().items()})
        for flow, size in workload.flows.items():
            assert counted[flow.canonical()] == 2 * size
    finally:
        tb.up(2, steer=False, reflect=False)
