"""Key classes for DSO maps: anything with canonical bytes, hashed like flows (DESIGN.md §2).

The home of a key is ``key_space.home(key.canonical())``; a flow's state is therefore homed
where its packets are steered. Runtime calls also accept the canonical bytes directly.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from s6nf.keys import FlowKey, bucket_of_bytes

__all__ = ["BytesKey", "FlowKey", "IpKey", "Key", "KeyLike", "bucket_of_key", "key_bytes"]


@runtime_checkable
class Key(Protocol):
    def canonical(self) -> bytes: ...


KeyLike = Key | bytes


@dataclass(frozen=True, slots=True)
class IpKey:
    """An IPv4 address, e.g. a source for per-source counters; 4 bytes in network order."""

    addr: int

    @classmethod
    def of(cls, addr: str | int) -> IpKey:
        value = addr if isinstance(addr, int) else int(ipaddress.IPv4Address(addr))
        if not 0 <= value <= 0xFFFFFFFF:
            raise ValueError(f"IPv4 address out of range: {addr}")
        return cls(value)

    def canonical(self) -> bytes:
        return self.addr.to_bytes(4, "big")

    def __str__(self) -> str:
        return str(ipaddress.IPv4Address(self.addr))


@dataclass(frozen=True, slots=True)
class BytesKey:
    """Any key given by its bytes, e.g. a port-pool shard name."""

    data: bytes

    def canonical(self) -> bytes:
        return self.data


def key_bytes(key: KeyLike) -> bytes:
    return key if isinstance(key, bytes) else key.canonical()


def bucket_of_key(key: KeyLike, buckets: int) -> int:
    return bucket_of_bytes(key_bytes(key), buckets)
