"""The steering host's reply path (ebpf/uplink.c) through BPF_PROG_TEST_RUN: every reply is
sent to gen with gen's MACs, everything without a flow key is dropped under its reason."""

import pytest

from s6nf.agent.loader import load
from s6nf.agent.maps import UplinkMaps
from s6nf.agent.test_run import XDP_DROP, XDP_REDIRECT, run_xdp
from s6nf.agent.verdicts import Reason, verdict_total
from tests.datapath import packets as pk
from tests.datapath.conftest import reason_counts

pytestmark = pytest.mark.root

TO_GEN = 7
SW_MAC, GEN_MAC = bytes.fromhex("0200000000f1"), bytes.fromhex("0200000000f2")


@pytest.fixture
def uplink():
    prog = load("uplink")
    yield prog
    prog.close()


def test_every_reply_goes_to_gen_with_gen_macs(uplink):
    with UplinkMaps.of(uplink) as maps:
        maps.configure(TO_GEN, SW_MAC, GEN_MAC)
    replies = [pk.tcp(src="10.2.0.1", dst="10.1.0.1", sport=80, dport=40000, flags="SA"),
               pk.udp(src="10.2.0.9", dst="10.1.0.9", sport=53, dport=5353),
               pk.vlan(pk.udp(), 2)]
    for reply in replies:
        result = run_xdp(uplink.fd, reply)
        assert result.action == XDP_REDIRECT
        assert result.packet == GEN_MAC + SW_MAC + reply[12:]
    counts = reason_counts(uplink)
    assert counts[Reason.FORWARD] == verdict_total(counts) == 3
    assert counts[Reason.NOTE_VLAN] == 1


def test_frames_without_a_flow_key_are_dropped_by_reason(uplink):
    with UplinkMaps.of(uplink) as maps:
        maps.configure(TO_GEN, SW_MAC, GEN_MAC)
    for frame in (pk.udp(flags="MF"), pk.tcp()[:20], pk.udp(proto=47), pk.vlan(pk.udp(), 3)):
        assert run_xdp(uplink.fd, frame).action == XDP_DROP
    counts = reason_counts(uplink)
    assert counts.get(Reason.FORWARD, 0) == 0 and verdict_total(counts) == 4
    assert counts[Reason.DROP_FRAGMENT] == counts[Reason.DROP_TRUNC_IP] == 1
    assert counts[Reason.DROP_UNSUPPORTED_L4] == counts[Reason.DROP_VLAN_DEPTH] == 1


def test_an_unconfigured_uplink_drops_with_a_reason(uplink):
    assert run_xdp(uplink.fd, pk.udp()).action == XDP_DROP
    assert reason_counts(uplink)[Reason.DROP_NOT_CONFIGURED] == 1
