"""The two barriers of a scale event (s6nf/agent/dso/sync.py, handoff.py), each found by the
output-equivalence checker: one-way calls lost with an instance that left, and a packet queued
at a bucket's previous target overtaken at its new one."""

import asyncio

from s6nf.agent.dso import Prepare, Switch
from s6nf.keys import bucket_of_bytes
from s6nf.keyspace import KeySpace
from tests.unit.dso.cluster import cluster, key_homed_at
from tests.unit.dso.test_agent_basics import COUNTERS, SCHEMA, Counter

CASTS = 50


def test_casts_batched_toward_a_home_that_leaves_are_applied_at_its_new_home():
    """The casts wait in the sender's batch (a long flush interval) until the home has left
    the key space; the home then forwards them into its own batch. Only the barrier of
    ``wait_drained`` sends both batches on before the home closes."""
    async def main() -> None:
        async with cluster(3, SCHEMA, flush_interval_s=30.0) as (a0, a1, a2):
            key = key_homed_at(a0, 0)
            await a1.mw(COUNTERS).call(key, Counter.swap, 0)
            for _ in range(CASTS):
                a1.mw(COUNTERS).cast(key, Counter.add, 1)
            ks1 = KeySpace(1, tuple(2 for _ in a0.key_space.owners))
            for a in (a0, a1, a2):
                await a.prepare(Prepare(ks1))
            for a in (a0, a1, a2):
                await a.switch(Switch(1))
            await asyncio.gather(*(a.wait_drained(0, 10) for a in (a0, a1, a2)))
            for a in (a0, a1, a2):
                a.retire(0)
            await a0.close()
            assert await a1.mw(COUNTERS).call(key, Counter.read) == CASTS
            assert a0.counters.forwarded == CASTS

    asyncio.run(main())


class Listener:
    def __init__(self) -> None:
        self.holds: list[frozenset[int]] = []
        self.drained = 0

    def drain(self) -> int:
        self.drained += 1
        return 0

    def hold(self, buckets: frozenset[int], of: int) -> None:
        assert of == 64
        self.holds.append(buckets)


def test_a_new_target_holds_a_bucket_until_its_previous_target_ran_the_work_queued_for_it():
    async def main() -> None:
        async with cluster(2, SCHEMA) as (a0, a1):
            key = key_homed_at(a0, 0)
            bucket = bucket_of_bytes(key, 64)
            listener = Listener()
            a1.set_handoff_listener(listener)
            a0.set_handoff_listener(Listener())
            go_on = asyncio.Event()

            async def queued_packet() -> None:
                await go_on.wait()

            a0.micro.submit(key, queued_packet)
            ks1 = KeySpace(1, tuple(1 for _ in a0.key_space.owners))
            for a in (a0, a1):
                await a.prepare(Prepare(ks1))
            moved_in = frozenset(b for b, owner in enumerate(a0.key_space.owners) if owner == 0)
            assert listener.holds[-1] == moved_in and bucket in moved_in
            wait = a1.handoff_wait(key)
            assert wait is not None
            assert a1.handoff_wait(key_homed_at(a0, 1)) is None
            for a in (a0, a1):
                await a.switch(Switch(1))
            await asyncio.sleep(0.05)
            assert not asyncio.ensure_future(wait).done()
            assert not a1.is_drained(0) and a1.status().in_flight == len(moved_in)
            go_on.set()
            await asyncio.wait_for(wait, 5)
            assert listener.holds[-1] == frozenset()
            assert a1.handoff_wait(key) is None and a1.held_buckets() == 0
            await asyncio.gather(*(a.wait_drained(0, 5) for a in (a0, a1)))

    asyncio.run(main())


def test_a_handoff_from_a_previous_target_that_is_gone_is_released_not_held_for_ever():
    async def main() -> None:
        async with cluster(2, SCHEMA, call_timeout_s=0.5) as (a0, a1):
            key = key_homed_at(a0, 0)
            ks1 = KeySpace(1, tuple(1 for _ in a0.key_space.owners))
            await a1.prepare(Prepare(ks1))
            wait = a1.handoff_wait(key)
            assert wait is not None
            await a0.close()
            await a1.switch(Switch(1))
            await asyncio.wait_for(wait, 5)
            assert a1.held_buckets() == 0

    asyncio.run(main())


def test_a_leaving_target_answers_a_handoff_only_once_the_casts_of_its_last_work_are_applied():
    """The leaving instance's own ``wait_drained`` is over when its slow path, still running
    a moved flow's queued packet, makes a cast (to a third instance): the handoff's answer
    covers that cast."""
    async def main() -> None:
        async with cluster(3, SCHEMA, flush_interval_s=30.0) as (a0, a1, a2):
            ks1 = KeySpace(1, tuple(2 if owner == 2 else 1 for owner in a0.key_space.owners))
            flow = key_homed_at(a0, 0)
            counter = key_homed_at(a0, 2, 7000)
            go_on = asyncio.Event()

            async def last_packet() -> None:
                await go_on.wait()
                a0.mw(COUNTERS).cast(counter, Counter.add, 1)

            a0.micro.submit(flow, last_packet)
            for a in (a0, a1, a2):
                await a.prepare(Prepare(ks1))
            for a in (a0, a1, a2):
                await a.switch(Switch(1))
            await asyncio.gather(a0.wait_drained(0, 5), a2.wait_drained(0, 5))
            draining = asyncio.create_task(a1.wait_drained(0, 5))
            await asyncio.sleep(0.05)
            assert not draining.done()
            go_on.set()
            await draining
            for a in (a0, a1, a2):
                a.retire(0)
            await a0.close()
            assert await a2.mw(COUNTERS).call(counter, Counter.read) == 1

    asyncio.run(main())
