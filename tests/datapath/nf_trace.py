"""Traces for the NF tests: TCP connections and UDP exchanges, both directions, each flow's
packets in order and flows interleaved by a seeded shuffle. Every expected value the tests
check is computed from these lists, not by the code under test."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from scapy.compat import raw
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

FORWARD, REPLY = 0, 1


@dataclass(frozen=True)
class Pkt:
    flow: int
    direction: int
    frame: bytes
    src: str
    dst: str
    sport: int
    dport: int
    proto: int
    flags: int = 0
    ttl: int = 64
    window: int = 0
    payload: bytes = b""


@dataclass
class Conn:
    """One flow: client → server, with the TTLs and windows each side's packets carry."""

    client: str
    server: str
    cport: int
    sport: int
    proto: int = 6
    client_ttl: int = 64
    client_window: int = 29200
    server_ttl: int = 64
    server_window: int = 65160
    requests: list[bytes] = field(default_factory=lambda: [b"GET / HTTP/1.0\r\n\r\n"])
    responses: list[bytes] = field(default_factory=lambda: [b"HTTP/1.0 200 OK\r\n\r\n"])
    handshake: bool = True
    close: bool = True


def tcp_packet(c: Conn, flow: int, outbound: bool, flags: str, payload: bytes = b""
               ) -> Pkt:
    src, dst, sport, dport = ((c.client, c.server, c.cport, c.sport) if outbound
                              else (c.server, c.client, c.sport, c.cport))
    ttl, window = (c.client_ttl, c.client_window) if outbound else (c.server_ttl,
                                                                      c.server_window)
    seg = TCP(sport=sport, dport=dport, flags=flags, window=window)
    frame = raw(Ether(src="02:00:00:00:00:aa", dst="02:00:00:00:00:bb")
                / IP(src=src, dst=dst, ttl=ttl) / seg / payload)
    return Pkt(flow, FORWARD if outbound else REPLY, frame, src, dst, sport, dport, 6,
               int(seg.flags), ttl, window, payload)


def _udp(c: Conn, flow: int, outbound: bool, payload: bytes) -> Pkt:
    src, dst, sport, dport = ((c.client, c.server, c.cport, c.sport) if outbound
                              else (c.server, c.client, c.sport, c.cport))
    ttl = c.client_ttl if outbound else c.server_ttl
    frame = raw(Ether(src="02:00:00:00:00:aa", dst="02:00:00:00:00:bb")
                / IP(src=src, dst=dst, ttl=ttl) / UDP(sport=sport, dport=dport) / payload)
    return Pkt(flow, FORWARD if outbound else REPLY, frame, src, dst, sport, dport, 17,
               0, ttl, 0, payload)


def packets_of(c: Conn, flow: int) -> list[Pkt]:
    if c.proto == 17:
        out = []
        for i in range(max(len(c.requests), len(c.responses))):
            out += [_udp(c, flow, True, c.requests[i])] if i < len(c.requests) else []
            out += [_udp(c, flow, False, c.responses[i])] if i < len(c.responses) else []
        return out
    out = []
    if c.handshake:
        out += [tcp_packet(c, flow, True, "S"), tcp_packet(c, flow, False, "SA"),
                tcp_packet(c, flow, True, "A")]
    for req, resp in zip(c.requests, c.responses, strict=False):
        out += [tcp_packet(c, flow, True, "PA", req), tcp_packet(c, flow, False, "A"),
                tcp_packet(c, flow, False, "PA", resp), tcp_packet(c, flow, True, "A")]
    if c.close:
        out += [tcp_packet(c, flow, True, "FA"), tcp_packet(c, flow, False, "FA"),
                tcp_packet(c, flow, True, "A")]
    return out


def interleave(conns: list[Conn], seed: int) -> list[Pkt]:
    """Every flow's packets in order, the flows merged in a seeded random order."""
    rng = random.Random(seed)
    queues = [packets_of(c, i) for i, c in enumerate(conns)]
    out: list[Pkt] = []
    while any(queues):
        q = rng.choice([q for q in queues if q])
        out.append(q.pop(0))
    return out


def by_flow(frames: list[tuple[int, bytes]], trace: list[Pkt]) -> dict[int, list[bytes]]:
    """Output frames grouped by the flow whose input they came from (MACs ignored)."""
    owner = {p.frame[12:]: p.flow for p in trace}
    out: dict[int, list[bytes]] = {}
    for _, frame in frames:
        out.setdefault(owner[frame[12:]], []).append(frame[12:])
    return out
