"""Edges of epoch changes that the output-equivalence checker (s6nf.equiv) found."""

import asyncio

from s6nf.agent.dso import DsoAgent, Mode, Prepare, Switch
from s6nf.keys import bucket_of_bytes
from s6nf.keyspace import KeySpace
from tests.unit.dso.cluster import cluster, key_homed_at
from tests.unit.dso.test_agent_basics import COUNTERS, FLOWS, SCHEMA, Counter


def test_a_pull_from_a_previous_home_that_left_after_retire_finds_the_key_absent():
    async def main() -> None:
        async with cluster(2, SCHEMA) as (a0, a1):
            key = key_homed_at(a0, 0)
            ks1 = KeySpace(1, tuple(1 for _ in a0.key_space.owners))
            for a in (a0, a1):
                await a.prepare(Prepare(ks1))
            for a in (a0, a1):
                await a.switch(Switch(1))
            for a in (a0, a1):
                await a.wait_drained(0, 5)

            async def first_packet() -> int:
                async with a1.sw(FLOWS).access(key) as flow:
                    flow.packets += 1
                    return int(flow.packets)

            access = asyncio.create_task(first_packet())
            for _ in range(100):
                if a1.maps[FLOWS.map_id].locating:
                    break
                await asyncio.sleep(0)
            assert a1.maps[FLOWS.map_id].locating == 1
            assert not a1.is_drained(0)
            for a in (a0, a1):
                a.retire(0)
            await a0.close()
            assert await asyncio.wait_for(access, 5) == 1
            assert a1.sw(FLOWS).held() == [key]

    asyncio.run(main())


def test_stop_and_copy_does_not_pause_a_task_that_holds_an_object_it_must_copy():
    async def main() -> None:
        async with cluster(2, SCHEMA, Mode.STOP_AND_COPY, call_timeout_s=0.5) as (a0, a1):
            moving = key_homed_at(a0, 0)
            other = key_homed_at(a0, 0, 5000)
            async with a0.sw(FLOWS).access(moving):
                pass
            ks1 = KeySpace(1, tuple(1 for _ in a0.key_space.owners))
            for a in (a0, a1):
                await a.prepare(Prepare(ks1))

            async def nested() -> None:
                async with a0.sw(FLOWS).access(other) as second:
                    second.packets = 2

            async with a0.sw(FLOWS).access(moving) as flow:
                switch = asyncio.create_task(a0.switch(Switch(1)))
                await asyncio.sleep(0.01)
                await asyncio.wait_for(nested(), 2)
                flow.packets = 1
            await asyncio.wait_for(switch, 5)
            await a1.switch(Switch(1))
            assert set(a1.sw(FLOWS).held()) == {moving, other}

    asyncio.run(main())


def _staying_at(agent: DsoAgent, home: int, moving: bytes) -> bytes:
    """A key homed at ``home`` outside ``moving``'s bucket."""
    buckets = agent.key_space.buckets
    for start in range(1000, 100000, 7):
        key = key_homed_at(agent, home, start)
        if bucket_of_bytes(key, buckets) != bucket_of_bytes(moving, buckets):
            return key
    raise AssertionError("no such key")


def _moving_one_bucket(agent: DsoAgent, key: bytes, to: int) -> KeySpace:
    """The next key space: ``key``'s bucket moves to instance ``to``, nothing else moves."""
    owners = list(agent.key_space.owners)
    owners[bucket_of_bytes(key, agent.key_space.buckets)] = to
    return KeySpace(agent.epoch + 1, tuple(owners))


def test_stop_and_copy_does_not_hold_a_local_call_of_a_holder_behind_a_paused_queue():
    """A peer's cast made a queue at the home during the pause; a task that holds an object
    the copy waits for then called the same object: its call joined the paused queue and
    waited for the copy, which waited for the task (a local call has no timeout), so the
    switch never drained (tests/equiv_cases/ids-stop-and-copy-switch-never-drains.json)."""
    async def main() -> None:
        async with cluster(2, SCHEMA, Mode.STOP_AND_COPY, call_timeout_s=0.5) as (a0, a1):
            moving = key_homed_at(a0, 0)
            shared = _staying_at(a0, 0, moving)
            ks1 = _moving_one_bucket(a0, moving, 1)
            assert ks1.home(shared) == 0
            async with a0.sw(FLOWS).access(moving):
                pass
            await a0.mw(COUNTERS).call(shared, Counter.read)
            for a in (a0, a1):
                await a.prepare(Prepare(ks1))
            async with a0.sw(FLOWS).access(moving) as flow:
                switch = asyncio.create_task(a0.switch(Switch(1)))
                await asyncio.sleep(0.01)
                a1.mw(COUNTERS).cast(shared, Counter.add, 1)
                for _ in range(200):
                    if shared in a0.maps[COUNTERS.map_id].mw_queues:
                        break
                    await asyncio.sleep(0.005)
                assert shared in a0.maps[COUNTERS.map_id].mw_queues
                assert await asyncio.wait_for(a0.mw(COUNTERS).call(shared, Counter.read), 2) == 1
                flow.packets = 1
            await asyncio.wait_for(switch, 5)
            await a1.switch(Switch(1))
            assert a1.sw(FLOWS).held() == [moving]

    asyncio.run(main())


def test_stop_and_copy_pause_holds_a_peer_call_unless_its_caller_holds_an_object():
    """Agent 1's pause lasts while a task there holds an object it must copy. A call from
    agent 0 by a task that itself holds an object is answered meanwhile (such a caller may be
    what another copy waits for: tests/equiv_cases/ids-stop-and-copy-pauses-hold-each-others-
    calls.json); a call from a task that holds nothing waits for the pause to end."""
    async def main() -> None:
        async with cluster(2, SCHEMA, Mode.STOP_AND_COPY, call_timeout_s=1.0) as (a0, a1):
            moving = key_homed_at(a1, 1)
            shared = _staying_at(a1, 1, moving)
            mine = key_homed_at(a0, 0)
            ks1 = _moving_one_bucket(a1, moving, 0)
            assert ks1.home(shared) == 1 and ks1.home(mine) == 0
            async with a1.sw(FLOWS).access(moving):
                pass
            await a1.mw(COUNTERS).call(shared, Counter.read)
            for a in (a0, a1):
                await a.prepare(Prepare(ks1))
            release = asyncio.Event()

            async def holder_at_1() -> None:
                async with a1.sw(FLOWS).access(moving) as flow:
                    await release.wait()
                    flow.packets = 1

            held = asyncio.create_task(holder_at_1())
            await asyncio.sleep(0.01)
            switch = asyncio.create_task(a1.switch(Switch(1)))
            await asyncio.sleep(0.01)
            assert a1.paused
            async with a0.sw(FLOWS).access(mine):
                assert await asyncio.wait_for(
                    a0.mw(COUNTERS).call(shared, Counter.swap, 5), 0.8) == 0
            plain = asyncio.create_task(a0.mw(COUNTERS).call(shared, Counter.swap, 7))
            await asyncio.sleep(0.2)
            assert not plain.done()
            release.set()
            await asyncio.wait_for(held, 2)
            await asyncio.wait_for(switch, 5)
            assert await asyncio.wait_for(plain, 2) == 5
            await a0.switch(Switch(1))
            assert set(a0.sw(FLOWS).held()) == {mine, moving}

    asyncio.run(main())

