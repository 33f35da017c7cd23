"""Hostile frames: scapy-built frames of every shape the parsers meet (VLAN stacks, IPv4
with options and fragments, IPv6, ARP, unsupported protocols, empty payloads), each cut at
every header boundary, with header fields set to bad values, bit-flipped, or replaced by
random bytes.

Scapy builds the seeds once; the frames are derived from them with byte operations, so a
million of them cost seconds, not scapy's milliseconds each. Every frame is at least an
Ethernet header long: shorter ones never reach XDP (a NIC does not deliver them and
BPF_PROG_TEST_RUN refuses them).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from scapy.compat import raw
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_RR
from scapy.layers.inet6 import IPv6, IPv6ExtHdrHopByHop
from scapy.layers.l2 import ARP, GRE, Dot1AD, Dot1Q, Ether
from scapy.packet import Packet, Raw

ETH_HLEN = 14
MAX_FRAME = 1514
KINDS = ("seed", "cut at a header boundary", "cut anywhere", "bad header field", "bit flips",
         "random bytes", "zeros")


@dataclass(frozen=True)
class Seed:
    frame: bytes
    boundaries: tuple[int, ...]
    """Offsets where a header starts or ends (Ethernet, each VLAN tag, IP, L4, payload)."""
    ip: int
    """Offset of the IPv4 header; -1 for none."""
    l4: int
    """Offset of the TCP/UDP header; -1 for none."""
    proto: int


def _macs() -> Ether:
    return Ether(dst="02:00:00:00:00:01", src="02:00:00:00:00:02")


def _seed_packets() -> list[Packet]:
    """One of each shape; addresses under 10.1/10.2 (hostile flows), ports 1..9 and 53/80."""
    ip = IP(src="10.1.0.1", dst="10.2.0.1")
    tcp, udp = TCP(sport=40001, dport=80, flags="S"), UDP(sport=40002, dport=53)
    return [
        _macs() / ip / tcp,
        _macs() / ip / TCP(sport=40003, dport=80, flags="PA") / (b"GET /admin " * 4),
        _macs() / ip / TCP(sport=40004, dport=80, flags="SA",
                           options=[("MSS", 1460), ("WScale", 7), ("SAckOK", b""),
                                    ("Timestamp", (1, 2))]),
        _macs() / ip / TCP(sport=40005, dport=22, flags="FPU") / b"x",
        _macs() / ip / TCP(sport=40006, dport=80, flags="R"),
        _macs() / ip / udp / (b"y" * 8),
        _macs() / ip / udp,
        _macs() / ip / UDP(sport=40007, dport=53, len=0) / b"zz",
        _macs() / IP(src="10.1.0.2", dst="10.2.0.2", options=[IPOption_RR(routers=["1.2.3.4"])])
        / TCP(sport=40008, dport=80),
        _macs() / IP(src="10.1.0.2", dst="10.2.0.2", ihl=15, options=[b"\x01" * 40])
        / UDP(sport=40009, dport=53),
        _macs() / IP(src="10.1.0.3", dst="10.2.0.3", flags="MF") / UDP(sport=1, dport=2)
        / b"frag",
        _macs() / IP(src="10.1.0.3", dst="10.2.0.3", frag=185) / b"tail of a fragment",
        _macs() / Dot1Q(vlan=5) / ip / TCP(sport=40010, dport=80),
        _macs() / Dot1AD(vlan=6) / Dot1Q(vlan=7) / ip / UDP(sport=40011, dport=53),
        _macs() / Dot1AD(vlan=6) / Dot1Q(vlan=7) / Dot1Q(vlan=8) / ip / TCP(sport=3, dport=4),
        _macs() / IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=5, dport=80),
        _macs() / IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrHopByHop()
        / UDP(sport=6, dport=53),
        _macs() / ARP(psrc="10.1.0.1", pdst="10.2.0.1"),
        _macs() / ip / ICMP() / b"ping",
        _macs() / ip / GRE() / IP(src="10.3.0.1", dst="10.4.0.1") / UDP(sport=7, dport=8),
        _macs() / IP(src="10.1.0.4", dst="10.2.0.4", proto=132) / Raw(b"\x00" * 12),
        _macs() / IP(src="10.1.0.5", dst="10.2.0.5") / UDP(sport=9, dport=53) / (b"p" * 1400),
        Ether(dst="01:80:c2:00:00:0e", src="02:00:00:00:00:02", type=0x88CC) / (b"\x02" * 30),
        Ether(dst="02:00:00:00:00:01", src="02:00:00:00:00:02", type=46) / (b"\xaa" * 46),
    ]


def _seed(pkt: Packet) -> Seed:
    frame = raw(pkt)
    boundaries, ip_at, l4_at, proto = [], -1, -1, 0
    layer: Packet | None = pkt
    previous: Packet | None = None
    while layer is not None:
        at = len(frame) - len(raw(layer))
        boundaries.append(at)
        if isinstance(layer, IP) and ip_at < 0:
            ip_at, proto = at, int(layer.proto)
        elif isinstance(layer, (TCP, UDP)) and previous is not None and ip_at >= 0 \
                and at == ip_at + len(raw(previous)) - len(raw(layer)) and l4_at < 0:
            l4_at = at
        previous = layer
        nxt = layer.payload
        layer = nxt if isinstance(nxt, Packet) and len(raw(nxt)) else None
    boundaries.append(len(frame))
    return Seed(frame, tuple(sorted(set(boundaries))), ip_at, l4_at, proto)


def seeds() -> list[Seed]:
    return [_seed(p) for p in _seed_packets()]


def _cut(frame: bytes, at: int) -> bytes:
    return frame[:max(ETH_HLEN, at)]


def _bad_field(rng: random.Random, s: Seed) -> bytes:
    """One header field of ``s`` set to a value its parser must refuse or survive."""
    f = bytearray(s.frame)
    if s.ip < 0:
        f[12:14] = rng.choice([0x0800, 0x86DD, 0x8100, 0x88A8, 0, 0xFFFF,
                               rng.randrange(1 << 16)]).to_bytes(2, "big")
        return bytes(f)
    ip = s.ip
    choice = rng.randrange(9 if s.l4 >= 0 else 6)
    if choice == 0:
        f[ip] = (f[ip] & 0xF0) | rng.randrange(16)
    elif choice == 1:
        f[ip] = (rng.randrange(16) << 4) | (f[ip] & 0x0F)
    elif choice == 2:
        length = len(f) - ip
        f[ip + 2:ip + 4] = rng.choice([0, 1, 19, 20, length - 1, length + 1, 0xFFFF,
                                       rng.randrange(1 << 16)]).to_bytes(2, "big")
    elif choice == 3:
        f[ip + 6:ip + 8] = rng.choice([0x2000, 0x0001, 0x3FFF, 0x4000, 0x8000,
                                       rng.randrange(1 << 16)]).to_bytes(2, "big")
    elif choice == 4:
        f[ip + 9] = rng.choice([0, 1, 4, 41, 47, 132, 255, 6, 17])
    elif choice == 5:
        f[12:14] = rng.choice([0x8100, 0x88A8, 0x86DD, 0x0806]).to_bytes(2, "big")
    elif choice == 6:
        del f[s.l4 + rng.randrange(1, 8):]
        f[ip + 2:ip + 4] = (len(f) - ip).to_bytes(2, "big")
    elif choice == 7 and s.proto == 6 and len(f) > s.l4 + 12:
        f[s.l4 + 12] = rng.randrange(16) << 4
    else:
        f[s.l4 + 4:s.l4 + 6] = rng.choice([0, 1, 7, 8, 0xFFFF]).to_bytes(2, "big")
    return bytes(f)


def hostile_frames(seed: int, count: int) -> Iterator[tuple[str, bytes]]:
    """``count`` (kind, frame) pairs from a seeded generator: the same seed, the same frames."""
    rng = random.Random(seed)
    pool = seeds()
    for _ in range(count):
        kind = rng.choices(KINDS, weights=(4, 20, 8, 24, 24, 16, 4))[0]
        s = rng.choice(pool)
        if kind == "seed":
            frame = s.frame
        elif kind == "cut at a header boundary":
            frame = _cut(s.frame, rng.choice(s.boundaries) + rng.choice((-1, 0, 0, 1)))
        elif kind == "cut anywhere":
            frame = _cut(s.frame, rng.randint(ETH_HLEN, len(s.frame)))
        elif kind == "bad header field":
            frame = _bad_field(rng, s)
        elif kind == "bit flips":
            flipped = bytearray(s.frame)
            for _ in range(rng.randint(1, 8)):
                flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
            frame = bytes(flipped)
        elif kind == "random bytes":
            frame = rng.randbytes(rng.choice((rng.randint(ETH_HLEN, 64),
                                              rng.randint(ETH_HLEN, MAX_FRAME))))
        else:
            frame = bytes(rng.randint(ETH_HLEN, 128))
        yield kind, frame
