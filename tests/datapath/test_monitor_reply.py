"""The monitor's reply entry (xdp_monitor_reply, on an instance's "out" link) through
BPF_PROG_TEST_RUN: one object with xdp_monitor, so both directions land on one flow entry."""

import ctypes as ct

import pytest

from s6nf.agent.loader import load
from s6nf.agent.maps import FlowTable
from s6nf.agent.structs import NfConfig, NfDirection
from s6nf.agent.test_run import XDP_DROP, XDP_REDIRECT, run_xdp
from s6nf.agent.verdicts import Reason
from s6nf.keys import FlowKey
from tests.datapath import packets as pk
from tests.datapath.conftest import reason_counts

pytestmark = pytest.mark.root

OUT, IN = 41, 42
OUT_SMAC, OUT_DMAC = bytes.fromhex("020000000101"), bytes.fromhex("020000000202")
IN_SMAC, IN_DMAC = bytes.fromhex("020000000303"), bytes.fromhex("020000000404")


@pytest.fixture
def monitor():
    prog = load("monitor", defines={"MAX_FLOWS": 64})
    with FlowTable.of(prog) as table:
        table.configure(OUT, OUT_SMAC, OUT_DMAC)
        table.configure(IN, IN_SMAC, IN_DMAC, NfDirection.REPLY)
        yield prog, table
    prog.close()


def test_replies_count_on_the_forward_flow_entry_and_leave_by_in(monitor):
    prog, table = monitor
    reply_fd = prog.entry("xdp_monitor_reply")
    forward = pk.tcp(src="10.1.0.1", dst="10.2.0.1", sport=40000, dport=80, flags="S")
    reply = pk.tcp(src="10.2.0.1", dst="10.1.0.1", sport=80, dport=40000, flags="SA")
    sent = run_xdp(prog.fd, forward)
    back = run_xdp(reply_fd, reply)
    assert sent.action == back.action == XDP_REDIRECT
    assert sent.packet[:12] == OUT_DMAC + OUT_SMAC
    assert back.packet[:12] == IN_DMAC + IN_SMAC
    assert back.packet[12:] == reply[12:]
    (key, stats), = table.entries().items()
    assert key.canonical() == FlowKey.of("10.1.0.1", "10.2.0.1", 40000, 80, 6).canonical()
    assert (stats.packets, stats.bytes) == (2, len(forward) + len(reply))
    assert stats.tcp_flags == 0x02 | 0x12
    assert reason_counts(prog)[Reason.FORWARD] == 2


def test_where_each_entry_sends_is_its_own_config_entry(monitor):
    prog, _ = monitor
    with prog.map("nf_config", ct.c_uint32, NfConfig) as cfg:
        assert cfg.lookup(ct.c_uint32(NfDirection.FORWARD)).out_ifindex == OUT
        assert cfg.lookup(ct.c_uint32(NfDirection.REPLY)).out_ifindex == IN
        cfg.update(ct.c_uint32(NfDirection.REPLY), NfConfig())
    assert run_xdp(prog.fd, pk.udp()).action == XDP_REDIRECT
    before = reason_counts(prog).get(Reason.DROP_NOT_CONFIGURED, 0)
    assert run_xdp(prog.entry("xdp_monitor_reply"), pk.udp()).action == XDP_DROP
    assert reason_counts(prog)[Reason.DROP_NOT_CONFIGURED] == before + 1


def test_malformed_replies_are_dropped_by_reason(monitor):
    prog, table = monitor
    reply_fd = prog.entry("xdp_monitor_reply")
    for packet in (pk.udp(flags="MF"), pk.tcp()[:30], pk.udp(proto=47)):
        assert run_xdp(reply_fd, packet).action == XDP_DROP
    counts = reason_counts(prog)
    assert counts[Reason.DROP_FRAGMENT] == counts[Reason.DROP_TRUNC_IP] == 1
    assert counts[Reason.DROP_UNSUPPORTED_L4] == 1
    assert table.entries() == {}


def test_an_unknown_entry_function_is_named_in_the_error(monitor):
    prog, _ = monitor
    with pytest.raises(LookupError, match="xdp_monitor_back"):
        prog.entry("xdp_monitor_back")
