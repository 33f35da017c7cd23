import asyncio
import struct

from s6nf.agent.dso import MwMap, Schema, StructCodec, SwMap, stale, untether
from tests.unit.dso.cluster import cluster, key_homed_at


class Flow:
    def __init__(self) -> None:
        self.packets = 0


class Counter:
    def __init__(self) -> None:
        self.n = 0

    @untether
    def add(self, k: int) -> None:
        self.n += k

    @stale(0.05)
    def read_stale(self) -> int:
        return self.n

    def read(self) -> int:
        return self.n

    def swap(self, v: int) -> int:
        old, self.n = self.n, v
        return old


FLOWS = SwMap(1, "flows", Flow)
COUNTERS = MwMap(2, "counters", Counter)
SCHEMA = Schema([FLOWS, COUNTERS])


def test_singlewriter_ownership_moves_to_the_accessor():
    async def main() -> None:
        async with cluster(3, SCHEMA) as (a0, a1, a2):
            key = key_homed_at(a0, 0)
            async with a1.sw(FLOWS).access(key) as flow:
                flow.packets += 1
            assert key in a1.sw(FLOWS).held()
            async with a2.sw(FLOWS).access(key) as flow:
                flow.packets += 1
            assert key in a2.sw(FLOWS).held() and key not in a1.sw(FLOWS).held()
            async with a0.sw(FLOWS).access(key) as flow:
                assert flow.packets == 2
            assert a0.maps[1].directory[key] == 0
            assert await a2.sw(FLOWS).remove(key)
            assert not any(key in a.sw(FLOWS).held() for a in (a0, a1, a2))
            assert not await a1.sw(FLOWS).remove(key)

    asyncio.run(main())


def test_multiwriter_calls_run_at_the_home():
    async def main() -> None:
        async with cluster(2, SCHEMA) as (a0, a1):
            key = key_homed_at(a0, 0)
            for _ in range(100):
                a1.mw(COUNTERS).cast(key, Counter.add, 1)
            a0.mw(COUNTERS).cast(key, Counter.add, 5)
            assert await a1.mw(COUNTERS).call(key, Counter.swap, 0) == 105
            assert await a1.mw(COUNTERS).call(key, Counter.read) == 0

    asyncio.run(main())


RECORDS = SwMap(4, "records", lambda: [0, 0], codec=StructCodec("!QI"))
RECORD_SCHEMA = Schema([RECORDS])


def test_fixed_size_records_move_as_their_packed_bytes():
    async def main() -> None:
        async with cluster(2, RECORD_SCHEMA) as (a0, a1):
            key = key_homed_at(a0, 0)
            async with a0.sw(RECORDS).access(key) as rec:
                rec[0], rec[1] = 1 << 40, 7
            assert a0.maps[4].storage.take(key) == struct.pack("!QI", 1 << 40, 7)
            a0.maps[4].storage.put(key, struct.pack("!QI", 1 << 40, 7))
            async with a1.sw(RECORDS).access(key) as rec:
                assert rec == [1 << 40, 7]

    asyncio.run(main())


def test_a_new_multiwriter_object_is_made_at_its_home_by_the_first_call_at_once():
    """No queue or task for a key nobody holds: the untether call has been applied when cast
    returns, and a later strict call from another agent sees it."""
    async def main() -> None:
        async with cluster(2, SCHEMA) as (a0, a1):
            key = key_homed_at(a0, 0)
            a0.mw(COUNTERS).cast(key, Counter.add, 3)
            assert [(k, c.n) for k, c in a0.mw(COUNTERS).held()] == [(key, 3)]
            assert not a0.maps[2].mw_queues
            assert await a1.mw(COUNTERS).call(key, Counter.read) == 3

    asyncio.run(main())
