"""A workload through gen → sw → nf → sink with the stamper at gen's egress (root only)."""

import json
import os
import time

import pytest

from s6nf.agent.maps import SinkCounters
from s6nf.agent.verdicts import Reason
from s6nf.cli import main
from s6nf.measure.sequence import sequence_report
from s6nf.measure.summary import summarize
from s6nf.testbed.run import run_trace
from s6nf.testbed.testbed import Testbed
from s6nf.testbed.topology import gen_link
from s6nf.testbed.workload import WorkloadSpec, generate

pytestmark = [pytest.mark.root, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def testbed():
    tb = Testbed(f"m{os.getpid() % 100000}")
    try:
        tb.up(2)
        tb.attach_stamper()
        yield tb
    finally:
        tb.down()


def test_every_packet_gets_a_latency_sample_with_no_loss_or_reordering(testbed, tmp_path):
    assert testbed.stamping()
    spec = WorkloadSpec(flows=150, concurrency=20, max_flow_packets=100, seed=4,
                        dst_mac=gen_link().b.mac)
    workload = generate(tmp_path / "w.pcap", spec)
    with SinkCounters.pinned(testbed.pin_dir("sink")) as sink:
        sink.configure(start_ns=time.monotonic_ns(), slot_ns=10**9)
    report = run_trace(testbed, workload.path)
    assert report.problems() == []
    assert report.sent.sent == report.received == workload.packets
    with SinkCounters.pinned(testbed.pin_dir("sink")) as sink:
        latency = sink.histogram()
        sequences = sequence_report(sink.records(), workload.flows)
        reasons = sink.reason_counts()
        summary = summarize(sink, workload.flows)
    assert latency.total == workload.packets
    assert reasons[Reason.NOTE_MEASURED] == workload.packets
    assert reasons.get(Reason.NOTE_UNSTAMPED, 0) == reasons.get(Reason.NOTE_CLOCK_SKEW, 0) == 0
    assert len(sequences.flows) == len(workload.flows)
    assert sequences.received == sequences.expected == workload.packets
    assert sequences.lost == sequences.reordered == 0
    assert 0 < latency.percentile(50) <= latency.percentile(99.9) < 10**9
    assert summary["latency_ns"]["count"] == summary["received"] == workload.packets
    assert summary["lost"] == summary["reordered"] == summary["unstamped"] == 0
    assert list(summary["latency_ns_by_phase"]) == ["0"]
    assert sum(s["packets"] for s in summary["throughput"]) == workload.packets
    assert sum(s["count"] for s in summary["latency_ns_by_slot"]) == workload.packets
    json.dumps(summary)


def test_the_stamper_comes_off_and_back(testbed, capsys):
    assert main(["testbed", "stamp", "off", "--name", testbed.name]) == 0
    assert not testbed.stamping()
    testbed.attach_stamper()
    assert main(["testbed", "stamp", "on", "--name", testbed.name]) == 0
    assert testbed.stamping()
    assert "stamper on" in capsys.readouterr().out


def test_measure_prints_the_summary_as_json(testbed, capsys, tmp_path):
    assert main(["testbed", "measure", "--name", testbed.name, "--json",
                 str(tmp_path / "m.json")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((tmp_path / "m.json").read_text())
    assert {"latency_ns", "lost", "reordered", "throughput"} <= set(printed)
    assert printed["slot_ns"] == 10**9
