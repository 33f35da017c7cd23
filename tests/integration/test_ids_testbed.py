"""The IDS on the embedded testbed: two instances whose agents run its slow path under the
controller, each in its host's namespace over the management network; a rule that every data
packet matches, every flow inspected; every packet arrives in order, and the alerts the
agents' control services list are, flow by flow, the data packets of the trace (root
only)."""

import dataclasses
import os
from collections import Counter

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.utils import rdpcap

from s6nf import cli_nf
from s6nf.agent.maps import SinkCounters
from s6nf.agent.verdicts import Reason
from s6nf.keys import FlowKey
from s6nf.nfs.ids_maps import IdsTables
from s6nf.testbed.run import run_trace
from s6nf.testbed.services import management_services
from s6nf.testbed.testbed import Testbed
from s6nf.testbed.topology import default_config, gen_link, instance_host
from s6nf.testbed.workload import WorkloadSpec, generate

pytestmark = [pytest.mark.root, pytest.mark.timeout(240)]
ZEROS = b"\0" * 24
RULES = f'alert ip any any -> any any (msg:"zero run"; content:"|{ZEROS.hex(" ")}|"; sid:7;)\n'


@pytest.fixture(scope="module")
def bed(tmp_path_factory):
    base = default_config()
    config = dataclasses.replace(base, nf=dataclasses.replace(base.nf, name="ids"))
    tb = Testbed(f"it{os.getpid() % 100000}", config=config)
    tb.up(2, steer=False)
    try:
        yield tb, tmp_path_factory.mktemp("ids")
    finally:
        tb.down()


def expected_alerts(pcap):
    """Canonical flow → data packets (a payload with a run of 24 zero bytes), from scapy."""
    out: Counter[bytes] = Counter()
    for pkt in rdpcap(str(pcap)):
        l4 = pkt[TCP] if TCP in pkt else pkt[UDP]
        if ZEROS in bytes(l4.payload):
            ip = pkt[IP]
            out[FlowKey.of(ip.src, ip.dst, l4.sport, l4.dport, ip.proto).canonical()] += 1
    return out


def test_alerts_equal_the_traces_data_packets_and_every_packet_arrives_in_order(bed):
    tb, tmp = bed
    rules = tmp / "local.rules"
    rules.write_text(RULES)
    spec = WorkloadSpec(flows=300, concurrency=100, rate_pps=5_000,
                        dst_mac=gen_link().b.mac, seed=8)
    workload = generate(tmp / "ids.pcap", spec)
    with management_services(tb, tmp / "state.json",
                             nf_options={"rules": str(rules), "scan_threshold": "100000"}
                             ) as plane:
        plane.wait_registered(2)
        outcome = plane.scale_to(2)
        assert outcome["ok"], outcome
        report = run_trace(tb, workload.path, 5_000)
        alerts = cli_nf.merge_alerts(plane.call_agents("Alerts"))
    assert report.problems() == []
    with SinkCounters.pinned(tb.pin_dir("sink")) as sink:
        assert sink.reason_counts().get(Reason.NOTE_REORDERED, 0) == 0
    entries = {}
    for i in tb.topology().instances:
        with IdsTables.pinned(tb.pin_dir(instance_host(i))) as ids:
            assert ids.reason_counts().get(Reason.PUNTED, 0) > 0
            for key, entry in ids.entries().items():
                assert key not in entries, "a flow's entry at two instances"
                entries[key] = entry
    for flow, size in workload.flows.items():
        entry = entries[flow.canonical()]
        assert entry.packets == size and entry.inspect == 1

    got: Counter[bytes] = Counter()
    for a in alerts:
        assert (a["event"], a["sid"], a["msg"]) == ("alert", 7, "zero run")
        proto = 6 if a["proto"] == "tcp" else 17
        got[FlowKey.of(a["src"], a["dst"], a["sport"], a["dport"], proto).canonical()] += 1
    want = expected_alerts(workload.path)
    assert sum(want.values()) > 0
    assert got == want
