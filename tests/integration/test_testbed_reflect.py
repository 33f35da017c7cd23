"""The embedded testbed with the sink reflecting: every packet goes gen → sw → nf → sink and
its reply sink → nf → sw → gen, counted at every hop, in order per flow (root only)."""

import os
import socket

import pytest

from s6nf.agent import libbpf
from s6nf.agent.maps import SinkCounters
from s6nf.cli import main
from s6nf.measure.sequence import sequence_report
from s6nf.netns import entered
from s6nf.testbed.accounting import snapshot
from s6nf.testbed.run import run_trace
from s6nf.testbed.testbed import Testbed
from s6nf.testbed.topology import gen_link
from s6nf.testbed.traffic import write_flows
from s6nf.testbed.workload import WorkloadSpec, generate

pytestmark = [pytest.mark.root, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def testbed():
    tb = Testbed(f"r{os.getpid() % 100000}")
    try:
        tb.up(2, reflect=True)
        tb.attach_stamper()
        yield tb
    finally:
        tb.down()


def canonical(flows):
    return {k.canonical(): n for k, n in flows.items()}


def test_every_packet_of_a_thousand_flows_comes_back_in_order(testbed, tmp_path):
    spec = WorkloadSpec(flows=1000, concurrency=100, max_flow_packets=200, seed=5,
                        dst_mac=gen_link().b.mac)
    workload = generate(tmp_path / "w.pcap", spec)
    sent = workload.packets
    report = run_trace(testbed, workload.path)
    assert report.problems() == []
    assert report.sent.sent == report.steered == report.received == sent
    assert report.reflected == report.uplinked == report.returned == sent
    assert report.at_instances == 2 * sent
    per_flow = canonical(workload.flows)
    assert len(per_flow) == 1000
    assert canonical(report.received_flows()) == per_flow
    assert canonical(report.returned_flows()) == per_flow
    at_instances = {k: n for flows in report.delta_flows().values()
                    for k, n in canonical(flows).items()}
    assert at_instances == {k: 2 * n for k, n in per_flow.items()}
    with SinkCounters.pinned(testbed.pin_dir("sink")) as sink, \
            SinkCounters.pinned(testbed.returns_pin_dir) as back:
        directions = [sequence_report(sink.records(), workload.flows),
                      sequence_report(back.records(), workload.flows)]
        round_trip = back.histogram()
    for seq in directions:
        assert len(seq.flows) == 1000
        assert seq.received == seq.expected == sent
        assert seq.lost == seq.reordered == seq.flows_with_loss == 0
    assert round_trip.total == sent
    assert 0 < round_trip.percentile(50) <= round_trip.percentile(99.9) < 10**9
    assert report.dropped() == {} and report.after.dropped


def test_every_hop_of_both_directions_has_a_program(testbed):
    programs = snapshot(testbed).programs
    assert programs["gen"][gen_link().a.ifname] and programs["sw"][gen_link().b.ifname]
    for i in (0, 1):
        assert programs[f"nf{i}"]["in"] and programs[f"nf{i}"]["out"]
        assert programs["sw"][f"nf{i}"] and programs["sink"][f"nf{i}"]
    assert programs["nf0"]["in"] != programs["nf0"]["out"]


def test_an_instance_added_while_reflecting_gets_its_reply_path(testbed, tmp_path):
    testbed.up(3)
    try:
        assert testbed.state.reflect
        trace = write_flows(tmp_path / "t.pcap", 600, 2, seed=9, dst_mac=gen_link().b.mac)
        report = run_trace(testbed, trace.path)
        assert report.problems() == []
        assert report.returned == trace.packets and report.delta_flows()[2]
    finally:
        testbed.up(2)
    assert testbed.state.reflect


def test_without_reflect_the_replies_stop_and_the_accounting_is_one_way(testbed, tmp_path):
    trace = write_flows(tmp_path / "t.pcap", 200, 2, seed=10, dst_mac=gen_link().b.mac)
    testbed.up(2, reflect=False)
    try:
        report = run_trace(testbed, trace.path)
        assert report.problems() == []
        assert report.received == report.at_instances == trace.packets
        assert report.reflected == report.returned == 0
    finally:
        testbed.up(2, reflect=True)
    assert run_trace(testbed, trace.path).returned == trace.packets


def test_a_hop_without_a_program_shows_as_lost_replies_and_drops(testbed, tmp_path):
    """A veth drops what is redirected into it unless its peer runs XDP: the accounting sees
    the replies missing at gen, the redirecting interfaces' drop counters see them go."""
    trace = write_flows(tmp_path / "t.pcap", 100, 2, seed=11, dst_mac=gen_link().b.mac)
    with entered(testbed.namespace("gen")):
        libbpf.xdp_detach(socket.if_nametoindex(gen_link().a.ifname))
    try:
        report = run_trace(testbed, trace.path)
    finally:
        testbed.set_reflect(True)
    assert report.returned == 0 and report.uplinked == trace.packets
    problems = report.problems()
    assert (f"sent {trace.packets} packets: expected {trace.packets} received back at gen, "
            "got 0") in problems
    assert sum(report.dropped().values()) == trace.packets
    assert all(name.startswith("sw:nf") for name in report.dropped())
    assert run_trace(testbed, trace.path).problems() == []


def test_the_cli_replays_and_reports_both_directions(testbed, tmp_path, capsys):
    assert main(["testbed", "up", "--name", testbed.name, "--instances", "2", "--reflect"]) == 0
    assert "both ways" in capsys.readouterr().out
    assert main(["traffic", "--flows", "50", "--packets", "3", "--out",
                 str(tmp_path / "t.pcap")]) == 0
    capsys.readouterr()
    assert main(["testbed", "replay", "--name", testbed.name, str(tmp_path / "t.pcap")]) == 0
    out = capsys.readouterr().out
    assert "received back at gen 150 (replies of 50 flows)" in out
    assert "every packet accounted for" in out
    assert main(["testbed", "status", "--name", testbed.name]) == 0
    status = capsys.readouterr().out
    assert "reflecting" in status and "replies of" in status
    assert "management network 10.54.0.0/24" in status and "ctl 10.54.0.2" in status
