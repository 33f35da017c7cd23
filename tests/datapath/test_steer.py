"""The steering program through BPF_PROG_TEST_RUN: hash vectors and a packet table."""

import json
from pathlib import Path

import pytest
from scapy.compat import raw
from scapy.layers.l2 import Ether

from s6nf.agent.maps import SteeringMaps
from s6nf.agent.structs import FlowKeyC, FwdTarget
from s6nf.agent.test_run import XDP_DROP, XDP_REDIRECT, run_xdp
from s6nf.agent.verdicts import Reason
from s6nf.keys import FlowKey
from tests.datapath import packets as pk
from tests.datapath.conftest import (
    PORTS,
    bucket_mac,
    bucket_packets,
    clear,
    reason_counts,
    steered_bucket,
)

pytestmark = pytest.mark.root

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "flow_hash.json").read_text())
def test_ebpf_hash_and_bucket_equal_the_shared_vectors_both_directions(steering):
    for v in VECTORS["vectors"]:
        build = pk.tcp if v["proto"] == 6 else pk.udp
        fwd = build(src=v["src"], dst=v["dst"], sport=v["sport"], dport=v["dport"])
        rev = build(src=v["dst"], dst=v["src"], sport=v["dport"], dport=v["sport"])
        assert steered_bucket(steering, fwd) == v["bucket_4096"], v
        assert steered_bucket(steering, rev) == v["bucket_4096"], v


def test_bucket_counters_count_packets_of_their_bucket(steering):
    before = bucket_packets(steering)
    key = FlowKey.of("10.9.9.9", "10.8.8.8", 1111, 2222, 17)
    for _ in range(5):
        run_xdp(steering.fd, pk.udp(src="10.9.9.9", dst="10.8.8.8", sport=1111, dport=2222))
    after = bucket_packets(steering)
    assert after[key.bucket()] - before.get(key.bucket(), 0) == 5
    assert sum(after.values()) - sum(before.values()) == 5


# (description, packet, expected action, expected reason, expected note)
CASES = [
    ("plain TCP", pk.tcp(), XDP_REDIRECT, Reason.FORWARD, None),
    ("plain UDP", pk.udp(), XDP_REDIRECT, Reason.FORWARD, None),
    ("IP options are parsed past", pk.tcp(options=[b"\x94\x04\x00\x00"]), XDP_REDIRECT,
     Reason.FORWARD, Reason.NOTE_IP_OPTIONS),
    ("one VLAN tag", pk.vlan(pk.tcp(), 1), XDP_REDIRECT, Reason.FORWARD, Reason.NOTE_VLAN),
    ("QinQ", pk.vlan(pk.udp(), 2), XDP_REDIRECT, Reason.FORWARD, Reason.NOTE_VLAN),
    ("three VLAN tags", pk.vlan(pk.udp(), 3), XDP_DROP, Reason.DROP_VLAN_DEPTH, None),
    ("ARP", raw(Ether(type=0x0806) / (b"\x00" * 28)), XDP_DROP, Reason.DROP_NOT_IPV4, None),
    ("IPv6", raw(Ether(type=0x86DD) / (b"\x60" + b"\x00" * 39)), XDP_DROP,
     Reason.DROP_NOT_IPV4, None),
    ("VLAN ethertype but no tag", raw(Ether(type=0x8100)), XDP_DROP, Reason.DROP_TRUNC_ETH,
     None),
    ("truncated VLAN tag", pk.vlan(pk.tcp(), 1)[:16], XDP_DROP, Reason.DROP_TRUNC_ETH, None),
    ("truncated IPv4 header", pk.tcp()[:14 + 12], XDP_DROP, Reason.DROP_TRUNC_IP, None),
    ("IHL below 5", pk.tcp()[:14] + bytes([0x44]) + pk.tcp()[15:], XDP_DROP,
     Reason.DROP_BAD_IP, None),
    ("IP version 6 in an IPv4 frame", pk.tcp()[:14] + bytes([0x65]) + pk.tcp()[15:], XDP_DROP,
     Reason.DROP_BAD_IP, None),
    ("total length beyond the frame", pk.udp()[:-1], XDP_DROP, Reason.DROP_TRUNC_IP, None),
    ("first fragment (MF)", pk.udp(flags="MF"), XDP_DROP, Reason.DROP_FRAGMENT, None),
    ("later fragment", pk.udp(frag=100), XDP_DROP, Reason.DROP_FRAGMENT, None),
    ("truncated TCP header", pk.tcp()[:14 + 20 + 10], XDP_DROP, Reason.DROP_TRUNC_IP, None),
    ("ICMP", pk.udp(proto=1), XDP_DROP, Reason.DROP_UNSUPPORTED_L4, None),
]


@pytest.mark.parametrize(("packet", "action", "reason", "note"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_packet_table(steering, packet, action, reason, note):
    before = reason_counts(steering)
    result = run_xdp(steering.fd, packet)
    after = reason_counts(steering)
    assert result.action == action
    delta = {r: after.get(r, 0) - before.get(r, 0) for r in Reason}
    assert delta[reason] == 1
    assert sum(n for r, n in delta.items() if not r.is_note) == 1
    if note is not None:
        assert delta[note] == 1


def test_tcp_header_cut_short_inside_a_consistent_ip_packet(steering):
    frame = bytearray(pk.tcp()[:14 + 20 + 10])
    frame[16:18] = (20 + 10).to_bytes(2, "big")
    before = reason_counts(steering)
    assert run_xdp(steering.fd, bytes(frame)).action == XDP_DROP
    assert reason_counts(steering)[Reason.DROP_TRUNC_L4] == before.get(Reason.DROP_TRUNC_L4, 0) + 1


def test_missing_and_drop_entries_drop_under_their_reasons(steering):
    key = FlowKey.of("10.7.7.7", "10.6.6.6", 7, 6, 6)
    packet = pk.tcp(src="10.7.7.7", dst="10.6.6.6", sport=7, dport=6)
    bucket = key.bucket()
    with SteeringMaps.of(steering) as maps:
        try:
            for entry, reason in ((None, Reason.DROP_NO_ROUTE),
                                  (FwdTarget.drop(), Reason.DROP_BY_ENTRY)):
                maps.apply_key_space({bucket: entry})
                before, counted = reason_counts(steering), bucket_packets(steering)
                assert run_xdp(steering.fd, packet).action == XDP_DROP
                assert reason_counts(steering)[reason] == before.get(reason, 0) + 1
                assert bucket_packets(steering)[bucket] == counted.get(bucket, 0) + 1
        finally:
            maps.apply_key_space({bucket: FwdTarget.of(1 + bucket % PORTS, bucket_mac(bucket))})
    assert steered_bucket(steering, packet) == bucket


def test_a_key_space_batch_flips_copies_and_keeps_untouched_buckets(steering):
    with SteeringMaps.of(steering) as maps:
        before = maps.key_space()
        maps.apply_key_space({0: FwdTarget.of(3, bucket_mac(4095))})
        after = maps.key_space()
        assert after[0].port == 3 and bytes(after[0].dmac) == bucket_mac(4095)
        assert [bytes(t) for t in after[1:]] == [bytes(t) for t in before[1:]]
        maps.apply_key_space({0: before[0]})
        assert bytes(maps.key_space()[0]) == bytes(before[0])
    with pytest.raises(ValueError, match="bucket 4096 out of range"), \
            SteeringMaps.of(steering) as maps:
        maps.apply_key_space({4096: None})


def test_flow_pin_overrides_the_bucket_for_both_directions(steering):
    key = FlowKey.of("10.3.3.3", "10.4.4.4", 3333, 4444, 6)
    fwd = pk.tcp(src="10.3.3.3", dst="10.4.4.4", sport=3333, dport=4444)
    rev = pk.tcp(src="10.4.4.4", dst="10.3.3.3", sport=4444, dport=3333)
    pinned_mac = bytes.fromhex("02aabbccddee")
    with SteeringMaps.of(steering) as maps:
        maps.pin(key, FwdTarget.of(2, pinned_mac))
        try:
            before = reason_counts(steering)
            assert run_xdp(steering.fd, fwd).packet[:6] == pinned_mac
            assert run_xdp(steering.fd, rev).packet[:6] == pinned_mac
            assert reason_counts(steering)[Reason.NOTE_PINNED] == \
                before.get(Reason.NOTE_PINNED, 0) + 2
        finally:
            assert maps.unpin(key)
        assert maps.pins() == {}
        assert run_xdp(steering.fd, fwd).packet[:6] == bucket_mac(key.bucket())


def test_pins_written_behind_the_families_back_are_ignored_until_counted(steering):
    """The pin count gates the lookup; SteeringMaps is the one writer that keeps it true."""
    key = FlowKey.of("10.5.5.5", "10.6.6.6", 5555, 6666, 17)
    packet = pk.udp(src="10.5.5.5", dst="10.6.6.6", sport=5555, dport=6666)
    with steering.map("flow_pin", FlowKeyC, FwdTarget) as raw_pins:
        raw_pins.update(FlowKeyC.from_flow(key), FwdTarget.of(2, bytes.fromhex("02aabbccddee")))
        try:
            assert run_xdp(steering.fd, packet).packet[:6] == bucket_mac(key.bucket())
        finally:
            clear(raw_pins)
