"""Flow keys, the shared CRC-32 hash and buckets (DESIGN.md §2).

The eBPF programs (``ebpf/include/flow_key.h``) and the P4 program compute the same
function; ``tests/datapath/test_hash_vectors.py`` holds them to this module.

Canonical key layout, 13 bytes in network order::

    addr_lo(4) addr_hi(4) port_lo(2) port_hi(2) proto(1)

where ``(addr_lo, port_lo) <= (addr_hi, port_hi)`` compared as unsigned integers, so both
directions of a connection share one key.
"""

from __future__ import annotations

import ipaddress
import struct
import zlib
from dataclasses import dataclass

DEFAULT_BUCKETS = 4096
CANONICAL_KEY_LEN = 13
IPPROTO_TCP = 6
IPPROTO_UDP = 17

_CANONICAL = struct.Struct("!IIHHB")


def crc32(data: bytes) -> int:
    """CRC-32 (IEEE 802.3, reflected, as ``zlib.crc32``) of ``data``."""
    return zlib.crc32(data) & 0xFFFFFFFF


def check_buckets(buckets: int) -> int:
    """Return ``buckets`` if it is a power of two between 1 and 2**20, else raise ValueError."""
    if buckets < 1 or buckets > 1 << 20 or buckets & (buckets - 1):
        raise ValueError(f"buckets must be a power of two in [1, 2**20], got {buckets}")
    return buckets


def bucket_of_hash(hash_value: int, buckets: int = DEFAULT_BUCKETS) -> int:
    return hash_value & (check_buckets(buckets) - 1)


def bucket_of_bytes(canonical: bytes, buckets: int = DEFAULT_BUCKETS) -> int:
    """Bucket of any key given by its canonical bytes (flows, source IPs, pool shards)."""
    return bucket_of_hash(crc32(canonical), buckets)


def _ip_to_int(addr: str | int) -> int:
    if isinstance(addr, int):
        if not 0 <= addr <= 0xFFFFFFFF:
            raise ValueError(f"IPv4 address out of range: {addr}")
        return addr
    return int(ipaddress.IPv4Address(addr))


@dataclass(frozen=True, slots=True)
class FlowKey:
    """A directed 5-tuple as seen on the wire; ``canonical()`` gives the shared key."""

    src: int
    dst: int
    sport: int
    dport: int
    proto: int

    @classmethod
    def of(cls, src: str | int, dst: str | int, sport: int, dport: int, proto: int) -> FlowKey:
        """Build from dotted-quad or integer addresses, checking every field's range."""
        for name, port in (("sport", sport), ("dport", dport)):
            if not 0 <= port <= 0xFFFF:
                raise ValueError(f"{name} out of range [0, 65535]: {port}")
        if not 0 <= proto <= 0xFF:
            raise ValueError(f"proto out of range [0, 255]: {proto}")
        return cls(_ip_to_int(src), _ip_to_int(dst), sport, dport, proto)

    def reversed(self) -> FlowKey:
        return FlowKey(self.dst, self.src, self.dport, self.sport, self.proto)

    def canonical(self) -> bytes:
        a, b = (self.src, self.sport), (self.dst, self.dport)
        lo, hi = (a, b) if a <= b else (b, a)
        return _CANONICAL.pack(lo[0], hi[0], lo[1], hi[1], self.proto)

    def hash(self) -> int:
        return crc32(self.canonical())

    def bucket(self, buckets: int = DEFAULT_BUCKETS) -> int:
        return bucket_of_hash(self.hash(), buckets)

    def __str__(self) -> str:
        src, dst = ipaddress.IPv4Address(self.src), ipaddress.IPv4Address(self.dst)
        return f"{src}:{self.sport}->{dst}:{self.dport}/{self.proto}"


def unpack_canonical(data: bytes) -> FlowKey:
    """Inverse of ``FlowKey.canonical`` (yields the lower endpoint as source)."""
    if len(data) != CANONICAL_KEY_LEN:
        raise ValueError(f"canonical flow key must be {CANONICAL_KEY_LEN} bytes, got {len(data)}")
    lo_addr, hi_addr, lo_port, hi_port, proto = _CANONICAL.unpack(data)
    return FlowKey(lo_addr, hi_addr, lo_port, hi_port, proto)
