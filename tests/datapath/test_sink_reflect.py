"""The sink's reflection through BPF_PROG_TEST_RUN: with meas_config.reflect set, every packet
leaves as its reply (XDP_TX) — MACs, IPv4 addresses and L4 ports swapped, checksums still
valid, payload and measurement header untouched — and is still counted and measured."""

import pytest
from scapy.compat import raw
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Dot1Q, Ether

from s6nf.agent.loader import load
from s6nf.agent.maps import SinkCounters
from s6nf.agent.test_run import XDP_DROP, XDP_TX, run_xdp
from s6nf.agent.verdicts import Reason, verdict_total
from s6nf.keys import FlowKey
from s6nf.measure.header import MeasHeader

pytestmark = pytest.mark.root

NOW = 7_000_000_000
GEN_MAC, SINK_MAC = "02:00:00:00:0a:01", "02:00:00:00:0b:02"


@pytest.fixture
def sink():
    prog = load("sink", defines={"MAX_FLOWS": 64})
    with SinkCounters.of(prog) as maps:
        maps.configure(start_ns=0, slot_ns=10**9, clock_ns=NOW)
        maps.set_reflect(True)
        yield prog, maps
    prog.close()


def frame(src=("10.1.0.1", 40000), dst=("10.2.0.1", 80), macs=(GEN_MAC, SINK_MAC),
          proto="tcp", vlan=False, ip_options=False, payload=b""):
    """A frame built by scapy, checksums computed from scratch."""
    eth = Ether(src=macs[0], dst=macs[1])
    if vlan:
        eth = eth / Dot1Q(vlan=9)
    ip = IP(src=src[0], dst=dst[0], id=4321, ttl=61,
            options=[b"\x94\x04\x00\x00"] if ip_options else [])
    l4 = (TCP(sport=src[1], dport=dst[1], flags="PA", seq=1000, ack=2000,
              options=[("MSS", 1460), ("NOP", None), ("WScale", 7)]) if proto == "tcp"
          else UDP(sport=src[1], dport=dst[1]))
    return raw(eth / ip / l4 / payload)


CASES = [
    ("tcp with options and a measured payload", {"proto": "tcp"}),
    ("udp", {"proto": "udp"}),
    ("vlan-tagged udp", {"proto": "udp", "vlan": True}),
    ("ip options, odd payload", {"proto": "tcp", "ip_options": True, "odd": True}),
]


@pytest.mark.parametrize(("case", "shape"), CASES, ids=[c for c, _ in CASES])
def test_a_reflected_packet_is_its_reply_byte_for_byte(sink, case, shape):
    prog, _ = sink
    shape = dict(shape)
    tail = bytes(range(7 if shape.pop("odd", False) else 24))
    payload = MeasHeader(seq=5, send_ns=NOW - 1000).pack() + tail
    forward = frame(payload=payload, **shape)
    expected = frame(src=("10.2.0.1", 80), dst=("10.1.0.1", 40000), macs=(SINK_MAC, GEN_MAC),
                     payload=payload, **shape)
    result = run_xdp(prog.fd, forward)
    assert result.action == XDP_TX
    assert result.packet == expected
    reply = Ether(result.packet)
    l4 = reply[TCP] if TCP in reply else reply[UDP]
    assert raw(l4.payload) == payload
    for layer in (reply[IP], l4):
        recomputed = layer.copy()
        del recomputed.chksum
        assert type(layer)(raw(recomputed)).chksum == layer.chksum


def test_reflected_packets_are_counted_and_measured_like_consumed_ones(sink):
    prog, maps = sink
    for seq in (0, 1, 3, 2):
        payload = MeasHeader(seq=seq, send_ns=NOW - 500).pack()
        assert run_xdp(prog.fd, frame(proto="udp", payload=payload)).action == XDP_TX
    counts = maps.reason_counts()
    assert counts[Reason.FORWARD] == verdict_total(counts) == 4
    assert counts.get(Reason.CONSUMED, 0) == 0
    assert counts[Reason.NOTE_MEASURED] == 4 and counts[Reason.NOTE_REORDERED] == 1
    (record,) = maps.records().values()
    assert (record.packets, record.measured, record.next_seq, record.reordered) == (4, 4, 4, 1)
    assert maps.histogram().total == 4


def test_the_reply_of_the_reply_is_the_packet_sent(sink):
    prog, maps = sink
    forward = frame(payload=MeasHeader(seq=0).pack())
    reply = run_xdp(prog.fd, forward).packet
    assert run_xdp(prog.fd, reply).packet == forward
    key = FlowKey.of("10.1.0.1", "10.2.0.1", 40000, 80, 6)
    assert [k.canonical() for k in maps.records()] == [key.canonical()]


def test_without_reflect_the_sink_consumes(sink):
    prog, maps = sink
    maps.set_reflect(False)
    assert not maps.reflecting()
    assert run_xdp(prog.fd, frame()).action == XDP_DROP
    maps.configure(start_ns=0, slot_ns=10**9, clock_ns=NOW)
    assert not maps.reflecting()
    maps.set_reflect(True)
    maps.configure(start_ns=0, slot_ns=10**9, clock_ns=NOW)
    assert maps.reflecting(), "configure must leave reflect as it was"
    assert run_xdp(prog.fd, frame()).action == XDP_TX
    counts = maps.reason_counts()
    assert counts[Reason.CONSUMED] == counts[Reason.FORWARD] == 1


def test_malformed_packets_are_dropped_by_reason_not_reflected(sink):
    prog, maps = sink
    good = frame(proto="udp")
    for bad in (good[:30], raw(Ether(dst=SINK_MAC, type=0x0806) / bytes(28)),
                frame(proto="udp")[:14] + raw(IP(src="10.1.0.1", dst="10.2.0.1", flags="MF")
                                              / UDP())):
        assert run_xdp(prog.fd, bad).action == XDP_DROP
    counts = maps.reason_counts()
    assert counts.get(Reason.FORWARD, 0) == 0
    assert verdict_total(counts) == 3
    assert counts[Reason.DROP_TRUNC_IP] == counts[Reason.DROP_NOT_IPV4] == 1
    assert counts[Reason.DROP_FRAGMENT] == 1
