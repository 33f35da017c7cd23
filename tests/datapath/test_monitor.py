"""The monitor NF's fast path through BPF_PROG_TEST_RUN."""

import ctypes as ct

import pytest

from s6nf.agent.structs import FlowKeyC, FlowStats, NfConfig
from s6nf.agent.test_run import XDP_DROP, XDP_REDIRECT, run_xdp
from s6nf.agent.verdicts import Reason
from s6nf.keys import FlowKey
from tests.datapath import packets as pk
from tests.datapath.conftest import clear, reason_counts

pytestmark = pytest.mark.root

SMAC, DMAC = bytes.fromhex("020000000101"), bytes.fromhex("020000000202")


@pytest.fixture
def flows(monitor):
    with monitor.map("nf_config", ct.c_uint32, NfConfig) as cfg:
        cfg.update(ct.c_uint32(0), NfConfig.of(42, SMAC, DMAC))
    with monitor.map("flows", FlowKeyC, FlowStats) as table:
        clear(table)
        yield table
        clear(table)


def test_counts_both_directions_of_a_flow_in_one_entry(monitor, flows):
    fwd = pk.tcp(src="10.1.0.1", dst="10.2.0.1", sport=40000, dport=80, flags="S")
    rev = pk.tcp(src="10.2.0.1", dst="10.1.0.1", sport=80, dport=40000, flags="SA")
    for packet in (fwd, rev, fwd):
        result = run_xdp(monitor.fd, packet)
        assert result.action == XDP_REDIRECT
        assert result.packet[:12] == DMAC + SMAC
    entries = {k.to_flow(): v for k, v in flows.items()}
    key = FlowKey.of("10.1.0.1", "10.2.0.1", 40000, 80, 6).canonical()
    (only,) = entries.items()
    assert only[0].canonical() == key
    stats = only[1]
    assert stats.packets == 3
    assert stats.bytes == 2 * len(fwd) + len(rev)
    assert stats.tcp_flags == 0x02 | 0x12
    assert 0 < stats.first_seen_ns <= stats.last_seen_ns


def test_full_flow_table_still_forwards_and_counts_the_miss(monitor, flows):
    for i in range(64):
        run_xdp(monitor.fd, pk.udp(sport=1000 + i))
    before = reason_counts(monitor)
    result = run_xdp(monitor.fd, pk.udp(sport=9999))
    assert result.action == XDP_REDIRECT
    assert len(flows.items()) == 64
    assert reason_counts(monitor)[Reason.NOTE_FLOW_TABLE_FULL] == \
        before.get(Reason.NOTE_FLOW_TABLE_FULL, 0) + 1


def test_malformed_packets_leave_no_flow_state(monitor, flows):
    for packet in (pk.udp(flags="MF"), pk.tcp()[:30], pk.udp(proto=47)):
        assert run_xdp(monitor.fd, packet).action == XDP_DROP
    assert flows.items() == []


def test_unconfigured_instance_drops_with_a_reason(monitor, flows):
    with monitor.map("nf_config", ct.c_uint32, NfConfig) as cfg:
        cfg.update(ct.c_uint32(0), NfConfig())
    before = reason_counts(monitor)
    assert run_xdp(monitor.fd, pk.tcp()).action == XDP_DROP
    assert reason_counts(monitor)[Reason.DROP_NOT_CONFIGURED] == \
        before.get(Reason.DROP_NOT_CONFIGURED, 0) + 1
