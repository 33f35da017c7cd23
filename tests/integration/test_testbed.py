"""The embedded testbed with real namespaces, veth, XDP and tcpreplay (root only)."""

import os

import pytest
from pyroute2 import netns as pyroute2_netns
from scapy.compat import raw
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Dot1Q, Ether
from scapy.utils import wrpcap

from s6nf.agent.verdicts import Reason
from s6nf.testbed.accounting import snapshot
from s6nf.testbed.run import run_trace
from s6nf.testbed.testbed import STATE_DIR, Testbed, TestbedError
from s6nf.testbed.topology import gen_link
from s6nf.testbed.traffic import write_flows

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def testbed():
    tb = Testbed(f"it{os.getpid() % 100000}")
    tb.up(2)
    yield tb
    tb.down()


def assert_flows_on_predicted_instances(tb, report):
    ks = tb.current_key_space()
    assert ks is not None
    for instance, flows in report.delta_flows().items():
        for key in flows:
            assert ks.owner(key.bucket(ks.buckets)) == instance, key


def test_every_packet_of_a_thousand_flows_is_accounted_for(testbed, tmp_path):
    trace = write_flows(tmp_path / "t.pcap", 1000, 3, seed=7, dst_mac=gen_link().b.mac)
    report = run_trace(testbed, trace.path)
    assert report.sent.sent == trace.packets == 3000
    assert report.problems() == []
    assert report.steered == report.at_instances == report.received == 3000
    per_instance = report.delta_flows()
    assert set(per_instance) == {0, 1} and all(per_instance.values())
    assert sum(len(f) for f in per_instance.values()) == 1000
    assert_flows_on_predicted_instances(testbed, report)


def test_instances_can_be_added_and_removed_while_up(testbed, tmp_path):
    testbed.up(3)
    try:
        snap = snapshot(testbed)
        assert set(snap.instance_flows) == {0, 1, 2}
        assert all(snap.programs[f"nf{i}"]["in"] for i in range(3))
        load = testbed.current_key_space().load()
        assert sorted(load) == [0, 1, 2] and max(load.values()) - min(load.values()) <= 1
        trace = write_flows(tmp_path / "t.pcap", 600, 2, seed=8, dst_mac=gen_link().b.mac)
        report = run_trace(testbed, trace.path)
        assert report.problems() == []
        assert report.delta_flows()[2]
        assert_flows_on_predicted_instances(testbed, report)
    finally:
        testbed.up(2)
    assert f"{testbed.name}-nf2" not in pyroute2_netns.listnetns()
    assert not testbed.pin_dir("nf2").exists()
    assert set(testbed.current_key_space().load()) == {0, 1}


def test_malformed_frames_on_the_wire_are_counted_by_reason(testbed, tmp_path):
    good = Ether(dst=gen_link().b.mac) / IP(src="10.1.0.9", dst="10.2.0.9") / TCP(sport=1, dport=2)
    frames = [
        good,
        Ether(dst=gen_link().b.mac, type=0x0806) / (b"\x00" * 28),
        Ether(dst=gen_link().b.mac) / IP(src="10.1.0.9", dst="10.2.0.9", flags="MF") / UDP(),
        Ether(dst=gen_link().b.mac) / Dot1Q(vlan=7) / IP(src="10.1.0.8", dst="10.2.0.8") / UDP(),
        Ether(dst=gen_link().b.mac) / IP(src="10.1.0.9", dst="10.2.0.9", proto=47) / (b"x" * 20),
        Ether(raw(good)[:14 + 20 + 4]),
    ]
    wrpcap(str(tmp_path / "bad.pcap"), frames)
    before = snapshot(testbed).steer_reasons
    report = run_trace(testbed, tmp_path / "bad.pcap")
    after = report.after.steer_reasons
    delta = {r: after.get(r, 0) - before.get(r, 0) for r in Reason}
    assert delta[Reason.FORWARD] == 2
    assert delta[Reason.NOTE_VLAN] == 1
    assert delta[Reason.DROP_NOT_IPV4] == delta[Reason.DROP_FRAGMENT] == 1
    assert delta[Reason.DROP_UNSUPPORTED_L4] == 1
    assert delta[Reason.DROP_TRUNC_IP] == 1
    assert report.received == 2


def test_up_refuses_a_namespace_it_did_not_make():
    tb = Testbed(f"iu{os.getpid() % 100000}")
    pyroute2_netns.create(tb.name + "-gen")
    try:
        with pytest.raises(TestbedError, match="not made by testbed"):
            tb.up(1)
    finally:
        tb.down()
        pyroute2_netns.remove(tb.name + "-gen")


def test_down_leaves_no_namespace_program_or_pin(tmp_path):
    tb = Testbed(f"id{os.getpid() % 100000}")
    tb.up(1)
    made = [ns for ns in pyroute2_netns.listnetns() if ns.startswith(tb.name + "-")]
    assert len(made) == 6, made  # gen, sw, sink, nf0 and the management network's mgmt, ctl
    removed = tb.down()
    assert sorted(removed) == sorted(made)
    assert not [ns for ns in pyroute2_netns.listnetns() if ns.startswith(tb.name + "-")]
    assert not tb.pin_root.exists()
    assert not (STATE_DIR / f"{tb.name}.json").exists()
    assert tb.down() == []
