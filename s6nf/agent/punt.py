"""The agent's end of the punt path (docs/punt-design.md): punted frames from the ring, and
the ``released`` map through which the agent tells the kernel a packet has left.

The kernel numbers each flow's punted packets 1, 2, … in an *episode* (which ends when it
flips the flow's entry to ready); ``release(key, seq)`` records that packets up to ``seq``
have been re-injected or dropped; ``hold(buckets)`` keeps the entries of flows handed over by
a scale event from turning ready. The agent never writes an entry's ready field, nor ``pend``
but to end an idle episode (``forget``).
"""

from __future__ import annotations

import ctypes as ct
import struct
from dataclasses import dataclass
from pathlib import Path

from s6nf.agent.bpfmap import BpfMap, RawMap
from s6nf.agent.loader import Program
from s6nf.agent.ring import RingReader
from s6nf.agent.structs import FlowKeyC, PuntPend
from s6nf.keys import CANONICAL_KEY_LEN

U32 = ct.c_uint32
_U32 = struct.Struct("=I")
_ONE, _ZERO = _U32.pack(1), _U32.pack(0)

META = struct.Struct("<16sQII")
"""``struct punt_meta``: flow key (16 bytes), seq, frame length, direction."""
DIRECTIONS = 2
"""0: the forward direction (arrived on "in"), 1: replies (arrived on "out")."""


class MalformedPunt(ValueError):
    """A ring record that is not a punt record (wrong size or length field)."""


@dataclass(frozen=True, slots=True)
class Punted:
    key: bytes
    """The canonical flow key (13 bytes)."""
    seq: int
    """The packet's number in its flow's episode."""
    direction: int
    """Where it arrived: 0 forward, 1 reply."""
    frame: bytes
    """The whole Ethernet frame as it arrived."""

    @classmethod
    def decode(cls, raw: bytes) -> Punted:
        if len(raw) < META.size:
            raise MalformedPunt(f"a punt record is at least {META.size} bytes, got {len(raw)}")
        key, seq, length, direction = META.unpack_from(raw)
        if not 0 < length <= len(raw) - META.size:
            raise MalformedPunt(f"punt record announces {length} frame bytes, carries "
                                f"{len(raw) - META.size}")
        if direction >= DIRECTIONS or seq == 0:
            raise MalformedPunt(f"punt record with direction {direction}, seq {seq}")
        return cls(key[:CANONICAL_KEY_LEN], seq, direction,
                   raw[META.size:META.size + length])


class PuntPath:
    """An instance's punt ring and its ``released`` and ``pend`` maps."""

    def __init__(self, ring: RingReader, released: BpfMap[FlowKeyC, ct.c_uint64],
                 pend: BpfMap[FlowKeyC, PuntPend], hold_buckets: BpfMap[U32, U32],
                 hold_count: BpfMap[U32, U32]) -> None:
        self.ring = ring
        self._released = RawMap(released)
        self._pend = RawMap(pend)
        self._hold = (RawMap(hold_buckets), RawMap(hold_count))
        self._held: frozenset[int] | None = None
        """Kernel buckets held now; None: unknown (an earlier agent may have left some)."""
        self._maps = (released, pend, hold_buckets, hold_count)
        self._pad = bytes(self._released.key_size - CANONICAL_KEY_LEN)

    @classmethod
    def of(cls, program: Program) -> PuntPath:
        return cls(RingReader(program.map_fd("punt_ring"), "punt_ring"),
                   program.map("released", FlowKeyC, ct.c_uint64),
                   program.map("pend", FlowKeyC, PuntPend),
                   program.map("hold_buckets", U32, U32), program.map("hold_count", U32, U32))

    @classmethod
    def pinned(cls, pin_dir: Path) -> PuntPath:
        return cls(RingReader.pinned(str(pin_dir / "punt_ring")),
                   BpfMap.pinned(str(pin_dir / "released"), FlowKeyC, ct.c_uint64),
                   BpfMap.pinned(str(pin_dir / "pend"), FlowKeyC, PuntPend),
                   BpfMap.pinned(str(pin_dir / "hold_buckets"), U32, U32),
                   BpfMap.pinned(str(pin_dir / "hold_count"), U32, U32))

    def hold(self, buckets: frozenset[int], of: int) -> None:
        """Hold exactly the flows of ``buckets`` of a key space of ``of`` buckets: the kernel
        turns none of their entries ready (``hold_buckets``; a scale event hands them over,
        s6nf/agent/dso/handoff.py). The kernel's buckets (``BUCKETS``, the map's size) and
        the key space's are both powers of two: a kernel bucket is held when it shares its
        low bits with a held key-space bucket. Only the entries that change are written (all
        of them the first time), then the count."""
        table, count = self._hold
        size = table.table.max_entries
        common = min(size, of)
        low = {b & (common - 1) for b in buckets}
        held = frozenset(r + j * common for r in low for j in range(size // common))
        changed = set(range(size)) if self._held is None else held ^ self._held
        if changed:
            order = sorted(changed)
            keys = b"".join(_U32.pack(p) for p in order)
            values = b"".join(_ONE if p in held else _ZERO for p in order)
            done, err = table.update_batch(keys, values, 0)
            if err:
                for p in order[done:]:
                    table.update(_U32.pack(p), _ONE if p in held else _ZERO)
        count.update(_U32.pack(0), _U32.pack(len(held)))
        self._held = held

    def take(self) -> list[bytes]:
        """Every punt record waiting in the ring, oldest first."""
        return self.ring.consume()

    def release(self, key: bytes, seq: int) -> None:
        self._released.update(key + self._pad, struct.pack("<Q", seq))

    def settled(self) -> dict[bytes, int]:
        """Flows whose every punted packet has been released: canonical key → punted."""
        released = {k[:CANONICAL_KEY_LEN]: struct.unpack("<Q", v)[0]
                    for k, v in self._released.items()}
        out = {}
        for key, value in self._pend.items():
            canonical = key[:CANONICAL_KEY_LEN]
            punted = struct.unpack_from("<Q", value)[0]
            if released.get(canonical, 0) == punted:
                out[canonical] = punted
        return out

    def forget(self, key: bytes) -> None:
        """End a finished episode the kernel has not ended: released first, then pend."""
        self._released.delete(key + self._pad)
        self._pend.delete(key + self._pad)

    def pending(self) -> int:
        """Flows with packets in an unfinished episode (the kernel's ``pend`` entries)."""
        return len(self._pend.keys())

    def close(self) -> None:
        self.ring.close()
        for m in self._maps:
            m.close()
