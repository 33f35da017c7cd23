"""Randomized schedules of accesses, untether adds and a scale event, on in-process agents."""

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s6nf.agent.dso import Prepare, Replicas, Switch
from s6nf.agent.dso.replica import object_bytes
from s6nf.backup_ring import BackupRing
from s6nf.keyspace import rebalance
from tests.unit.dso.cluster import cluster
from tests.unit.dso.test_agent_basics import COUNTERS, FLOWS, SCHEMA, Counter

ops = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 7)), min_size=1, max_size=30)


@pytest.mark.parametrize("replicas", [Replicas.OFF, Replicas.SYNC])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops, st.integers(0, 30), st.sampled_from([[0, 1], [0, 1, 2], [1, 2], [2], [0]]))
def test_every_access_and_add_counts_once_across_a_scale_event(replicas, schedule, scale_at,
                                                               target):
    async def main() -> None:
        async with cluster(3, SCHEMA, buckets=16, replicas=replicas) as agents:

            async def op(agent: int, k: int) -> None:
                key = bytes([k]) * 4
                async with agents[agent].sw(FLOWS).access(key) as flow:
                    flow.packets += 1
                    await asyncio.sleep(0)
                agents[agent].mw(COUNTERS).cast(b"total", Counter.add, 1)

            before = [asyncio.create_task(op(a, k)) for a, k in schedule[:scale_at]]
            ks1 = rebalance(agents[0].key_space, target)
            for a in agents:
                await a.prepare(Prepare(ks1))
            for a in agents:
                await a.switch(Switch(1))
            after = [asyncio.create_task(op(a, k)) for a, k in schedule[scale_at:]]
            await asyncio.gather(*before, *after)
            for a in agents:
                await a.wait_drained(0, 10)
            expected: dict[bytes, int] = {}
            for _, k in schedule:
                expected[bytes([k]) * 4] = expected.get(bytes([k]) * 4, 0) + 1
            where: dict[bytes, list[int]] = {}
            for i, a in enumerate(agents):
                for key in a.sw(FLOWS).held():
                    where.setdefault(key, []).append(i)
            assert set(where) == set(expected)
            for key, holders in where.items():
                assert len(holders) == 1, f"{key.hex()} held by {holders}"
                async with agents[ks1.home(key)].sw(FLOWS).access(key) as flow:
                    assert flow.packets == expected[key]
            total = 0
            for a in agents:
                total = await a.mw(COUNTERS).call(b"total", Counter.read)
            assert total == len(schedule)
            if replicas is not Replicas.OFF:
                for a in agents:
                    await a.flush_replicas()
                for i, a in enumerate(agents):
                    ring, storage = BackupRing(a.key_space), a.sw(FLOWS).storage
                    for key in a.sw(FLOWS).held():
                        backup = ring.backup_of(i, key)
                        if backup is not None:
                            copies = agents[backup].backups[i][FLOWS.map_id]
                            assert copies[key] == object_bytes(storage, key)

    asyncio.run(main())
