"""A storage like the eBPF one to come (fixed-size C structs keyed by canonical bytes) plugs
into the runtime without changes, and its objects move between agents as raw struct bytes."""

import asyncio
import ctypes
from collections.abc import Iterable, Sequence

from s6nf.agent.dso import Schema, Storage, SwMap
from tests.unit.dso.cluster import cluster, key_homed_at


class NatEntry(ctypes.Structure):
    _fields_ = [("ext_port", ctypes.c_uint16), ("packets", ctypes.c_uint64)]


class StructTable:
    """Values are ctypes structs (as a BPF map's values would be); moves use raw bytes."""

    def __init__(self) -> None:
        self.table: dict[bytes, NatEntry] = {}
        self.batches = 0

    def get(self, key: bytes) -> NatEntry | None:
        return self.table.get(key)

    def create(self, key: bytes) -> NatEntry:
        entry = self.table[key] = NatEntry()
        return entry

    def take(self, key: bytes) -> bytes | None:
        entry = self.table.pop(key, None)
        return None if entry is None else bytes(entry)

    def put(self, key: bytes, data: bytes) -> None:
        self.table[key] = NatEntry.from_buffer_copy(data)

    def delete(self, key: bytes) -> bool:
        return self.table.pop(key, None) is not None

    def snapshot(self) -> list[bytes]:
        return list(self.table)

    def export(self, keys: Sequence[bytes]) -> list[tuple[bytes, bytes]]:
        self.batches += 1
        return [(k, d) for k in keys if (d := self.take(k)) is not None]

    def import_(self, entries: Iterable[tuple[bytes, bytes]]) -> None:
        self.batches += 1
        for key, data in entries:
            self.put(key, data)

    def __len__(self) -> int:
        return len(self.table)


def make_table() -> Storage[NatEntry]:
    return StructTable()


NAT = SwMap(5, "nat", NatEntry, storage=make_table)


def test_struct_storage_objects_move_between_agents_as_raw_bytes():
    async def main() -> None:
        async with cluster(2, Schema([NAT])) as (a0, a1):
            key = key_homed_at(a0, 0)
            async with a0.sw(NAT).access(key) as entry:
                entry.ext_port, entry.packets = 40000, 1
            async with a1.sw(NAT).access(key) as entry:
                assert (entry.ext_port, entry.packets) == (40000, 1)
                entry.packets += 1
            assert key not in a0.sw(NAT).held()
            async with a0.sw(NAT).access(key, create=False) as entry:
                assert entry.packets == 2

    asyncio.run(main())
