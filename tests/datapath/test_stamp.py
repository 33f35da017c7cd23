"""The stamper through BPF_PROG_TEST_RUN (SCHED_CLS): send times written, checksums valid."""

import time

import pytest
from scapy.compat import raw
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Dot1Q, Ether

from s6nf.agent.loader import Hook, load
from s6nf.agent.test_run import TC_ACT_OK, run_tc
from s6nf.agent.verdicts import Reason
from s6nf.measure.header import MeasHeader
from tests.datapath.conftest import reason_counts

pytestmark = pytest.mark.root

ETH = Ether(dst="02:00:00:00:00:01", src="02:00:00:00:00:02")
IPV4 = IP(src="10.1.0.1", dst="10.2.0.1")
HEADER = MeasHeader(seq=7, send_ns=0x1122334455667788).pack()


@pytest.fixture(scope="module")
def stamper():
    prog = load("stamp", hook=Hook.TC_EGRESS)
    yield prog
    prog.close()


def checksums_valid(frame: bytes) -> bool:
    pkt = Ether(frame)
    rebuilt = pkt.copy()
    del rebuilt[IP].chksum
    if TCP in rebuilt:
        del rebuilt[TCP].chksum
    elif UDP in rebuilt and pkt[UDP].chksum != 0:
        del rebuilt[UDP].chksum
    return raw(Ether(raw(rebuilt))) == frame


def stamped(prog, frame: bytes) -> tuple[bytes, int, int]:
    before = time.monotonic_ns()
    result = run_tc(prog.fd, frame)
    after = time.monotonic_ns()
    assert result.action == TC_ACT_OK
    return result.packet, before, after


CASES = {
    "udp": ETH / IPV4 / UDP(sport=5000, dport=53) / HEADER / bytes(30),
    "tcp": ETH / IPV4 / TCP(sport=40000, dport=80, flags="PA") / HEADER / bytes(3),
    "tcp syn, header only": ETH / IPV4 / TCP(sport=40000, dport=80, flags="S") / HEADER,
    "tcp options, vlan": ETH / Dot1Q(vlan=3) / IPV4 / TCP(
        sport=1, dport=2, options=[("MSS", 1460), ("NOP", None), ("WScale", 7)]) / HEADER,
    "ip options": ETH / IP(src="10.1.0.1", dst="10.2.0.1", options=[b"\x94\x04\x00\x00"])
    / UDP(sport=1, dport=2) / HEADER,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_send_time_is_written_and_checksums_stay_valid(stamper, name):
    frame = raw(CASES[name])
    assert checksums_valid(frame)
    out, before, after = stamped(stamper, frame)
    pkt = Ether(out)
    l4 = pkt[TCP] if TCP in pkt else pkt[UDP]
    header = MeasHeader.unpack(bytes(l4.payload))
    assert header is not None and header.seq == 7
    assert before <= header.send_ns <= after
    assert len(out) == len(frame) and checksums_valid(out)
    changed = [i for i in range(len(frame)) if frame[i] != out[i]]
    assert len(changed) <= 10


@pytest.mark.parametrize("previous", [0, (1 << 64) - 1, 0xFFFF0000FFFF0000, 0x00000001FFFFFFFF])
@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_checksums_stay_valid_whatever_the_field_held_before(stamper, previous, proto):
    header = MeasHeader(seq=1, send_ns=previous).pack()
    for pad in range(0, 40, 3):
        l4 = UDP(sport=5000 + pad, dport=53) if proto == "udp" else TCP(sport=pad, dport=80)
        frame = raw(ETH / IPV4 / l4 / header / bytes(range(pad)))
        out = stamped(stamper, frame)[0]
        assert out != frame and checksums_valid(out)


def test_the_checksum_check_catches_a_stale_checksum():
    frame = bytearray(raw(CASES["udp"]))
    frame[50] ^= 1
    assert not checksums_valid(bytes(frame))


def test_a_udp_packet_without_checksum_keeps_none(stamper):
    frame = bytearray(raw(ETH / IPV4 / UDP(sport=5000, dport=53) / HEADER))
    frame[40:42] = b"\0\0"
    out, before, after = stamped(stamper, bytes(frame))
    assert out[40:42] == b"\0\0"
    header = MeasHeader.unpack(out[42:])
    assert header is not None and before <= header.send_ns <= after


@pytest.mark.parametrize("frame", [
    raw(ETH / IPV4 / UDP(sport=1, dport=2) / bytes(40)),
    raw(ETH / IPV4 / UDP(sport=1, dport=2) / HEADER[:12]),
    raw(ETH / IPV4 / UDP(sport=1, dport=2) / (b"\0" + HEADER)),
    raw(Ether(type=0x0806) / bytes(40)),
], ids=["no magic", "short header", "magic elsewhere", "arp"])
def test_other_packets_pass_untouched(stamper, frame):
    assert stamped(stamper, frame)[0] == frame


def test_every_packet_counts_once_and_stamped_ones_are_noted():
    prog = load("stamp", hook=Hook.TC_EGRESS)
    try:
        for frame in (raw(CASES["udp"]), raw(CASES["tcp"]), raw(ETH / IPV4 / UDP() / b"x")):
            run_tc(prog.fd, frame)
        counts = reason_counts(prog)
        assert counts[Reason.FORWARD] == 3 and counts[Reason.NOTE_MEASURED] == 2
    finally:
        prog.close()
