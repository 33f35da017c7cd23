"""Reading and rewriting the headers of a punted frame in the agent, the way the fast path
does (incremental checksums as ``ebpf/include/csum.h``), without scapy on the packet path."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from s6nf.keys import FlowKey

ETH_HLEN = 14
_VLAN_TYPES = (0x8100, 0x88A8)
TCP, UDP = 6, 17
TCP_FIN, TCP_RST = 0x01, 0x04


def be32(value: int) -> int:
    """A host integer as the u32 a little-endian host reads from its network-order bytes."""
    return int.from_bytes(value.to_bytes(4, "big"), "little")


def be16(value: int) -> int:
    return int.from_bytes(value.to_bytes(2, "big"), "little")


def host32(value: int) -> int:
    return int.from_bytes(value.to_bytes(4, "little"), "big")


def host16(value: int) -> int:
    return int.from_bytes(value.to_bytes(2, "little"), "big")


class BadFrame(ValueError):
    """A punted frame the agent cannot read (the kernel parsed it, so this is a bug or a
    mismatch between the two parsers)."""


@dataclass(frozen=True, slots=True)
class Headers:
    """Where a frame's fields lie and what they say (addresses as host integers)."""

    l3: int
    l4: int
    proto: int
    src: int
    dst: int
    sport: int
    dport: int
    tcp_flags: int
    ttl: int
    window: int
    payload: int

    @property
    def flow(self) -> FlowKey:
        return FlowKey(self.src, self.dst, self.sport, self.dport, self.proto)


def parse(frame: bytes) -> Headers:
    """Ethernet (up to two VLAN tags), IPv4, TCP or UDP."""
    try:
        offset, ethertype = 12, struct.unpack_from("!H", frame, 12)[0]
        while ethertype in _VLAN_TYPES:
            offset += 4
            ethertype = struct.unpack_from("!H", frame, offset)[0]
        if ethertype != 0x0800:
            raise BadFrame(f"ethertype {ethertype:#06x} is not IPv4")
        l3 = offset + 2
        ver_ihl, ttl, proto = frame[l3], frame[l3 + 8], frame[l3 + 9]
        src, dst = struct.unpack_from("!II", frame, l3 + 12)
        l4 = l3 + (ver_ihl & 0x0F) * 4
        sport, dport = struct.unpack_from("!HH", frame, l4)
        if proto == TCP:
            flags, window = frame[l4 + 13], struct.unpack_from("!H", frame, l4 + 14)[0]
            payload = l4 + (frame[l4 + 12] >> 4) * 4
        elif proto == UDP:
            flags, window, payload = 0, 0, l4 + 8
        else:
            raise BadFrame(f"IPv4 protocol {proto} is neither TCP nor UDP")
    except (struct.error, IndexError) as exc:
        raise BadFrame(f"truncated frame of {len(frame)} bytes: {exc}") from None
    return Headers(l3, l4, proto, src, dst, sport, dport, flags, ttl, window, payload)


def _fold(total: int) -> int:
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _replace(csum: int, old: bytes, new: bytes) -> int:
    """RFC 1624 over 16-bit words in network order."""
    total = ~csum & 0xFFFF
    for i in range(0, len(old), 2):
        total += (~int.from_bytes(old[i:i + 2], "big") & 0xFFFF)
        total += int.from_bytes(new[i:i + 2], "big")
    return ~_fold(total) & 0xFFFF


def _delta(old: bytes, new: bytes) -> int:
    """What RFC 1624 adds to a checksum's complement when ``old`` becomes ``new``."""
    total = 0
    for i in range(0, len(old), 2):
        total += (~int.from_bytes(old[i:i + 2], "big") & 0xFFFF)
        total += int.from_bytes(new[i:i + 2], "big")
    return total


def _apply(csum: int, delta: int) -> int:
    return ~_fold((~csum & 0xFFFF) + delta) & 0xFFFF


class Rewriter:
    """One flow's translation, its checksum deltas computed once: every packet of the flow
    has the same addresses and ports before and after, so only the deltas' application is
    left per packet."""

    def __init__(self, h: Headers, src: int, dst: int, sport: int, dport: int,
                 smac: bytes, dmac: bytes) -> None:
        self.old = struct.pack("!IIHH", h.src, h.dst, h.sport, h.dport)
        self.addrs = struct.pack("!II", src, dst)
        self.ports = struct.pack("!HH", sport, dport)
        self.macs = dmac + smac
        self.ip_delta = _delta(self.old[:8], self.addrs)
        self.l4_delta = _delta(self.old, self.addrs + self.ports)

    def apply(self, frame: bytes, h: Headers) -> bytes:
        """``frame`` (a packet of this flow, as ``h`` reads it) translated."""
        if frame[h.l3 + 12:h.l3 + 20] + frame[h.l4:h.l4 + 4] != self.old:
            raise ValueError("the frame is not of the flow this rewriter was made for")
        out = bytearray(frame)
        out[0:12] = self.macs
        at = h.l3 + 10
        struct.pack_into("!H", out, at, _apply(struct.unpack_from("!H", frame, at)[0],
                                               self.ip_delta))
        at = h.l4 + (16 if h.proto == TCP else 6)
        l4_sum = struct.unpack_from("!H", frame, at)[0]
        if h.proto == TCP or l4_sum != 0:
            l4_sum = _apply(l4_sum, self.l4_delta)
            if h.proto == UDP and l4_sum == 0:
                l4_sum = 0xFFFF
            struct.pack_into("!H", out, at, l4_sum)
        out[h.l3 + 12:h.l3 + 20] = self.addrs
        out[h.l4:h.l4 + 4] = self.ports
        return bytes(out)


def rewrite(frame: bytes, h: Headers, src: int, dst: int, sport: int, dport: int,
            smac: bytes, dmac: bytes) -> bytes:
    """The frame with new addresses, ports and MACs, checksums updated incrementally."""
    out = bytearray(frame)
    out[0:6], out[6:12] = dmac, smac
    old_addrs, new_addrs = frame[h.l3 + 12:h.l3 + 20], struct.pack("!II", src, dst)
    old_ports, new_ports = frame[h.l4:h.l4 + 4], struct.pack("!HH", sport, dport)
    ip_sum = struct.unpack_from("!H", frame, h.l3 + 10)[0]
    struct.pack_into("!H", out, h.l3 + 10, _replace(ip_sum, old_addrs, new_addrs))
    at = h.l4 + (16 if h.proto == TCP else 6)
    l4_sum = struct.unpack_from("!H", frame, at)[0]
    if h.proto == TCP or l4_sum != 0:
        l4_sum = _replace(l4_sum, old_addrs + old_ports, new_addrs + new_ports)
        if h.proto == UDP and l4_sum == 0:
            l4_sum = 0xFFFF
        struct.pack_into("!H", out, at, l4_sum)
    out[h.l3 + 12:h.l3 + 20] = new_addrs
    out[h.l4:h.l4 + 4] = new_ports
    return bytes(out)
