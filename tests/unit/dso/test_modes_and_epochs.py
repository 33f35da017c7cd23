import asyncio

import pytest

from s6nf.agent.dso import Mode, Prepare, Switch
from s6nf.keyspace import KeySpace, rebalance
from tests.unit.dso.cluster import cluster, key_homed_at
from tests.unit.dso.test_agent_basics import COUNTERS, FLOWS, SCHEMA, Counter


async def wait_for(cond, timeout=5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, "condition not met in time"
        await asyncio.sleep(0.002)


def test_local_only_never_talks_to_peers():
    async def main() -> None:
        async with cluster(2, SCHEMA, Mode.LOCAL_ONLY) as (a0, a1):
            key = key_homed_at(a0, 0)
            async with a1.sw(FLOWS).access(key) as flow:
                flow.packets += 1
            async with a0.sw(FLOWS).access(key) as flow:
                assert flow.packets == 0
            await a1.mw(COUNTERS).call(key, Counter.swap, 3)
            assert a1.counters.acquires_sent == a1.counters.calls_sent == 0

    asyncio.run(main())


def test_remote_only_returns_objects_home_after_each_access_and_never_caches():
    async def main() -> None:
        async with cluster(2, SCHEMA, Mode.REMOTE_ONLY) as (a0, a1):
            key = key_homed_at(a0, 0)
            for _ in range(3):
                async with a1.sw(FLOWS).access(key) as flow:
                    flow.packets += 1
                await wait_for(lambda: key in a0.sw(FLOWS).held())
            assert a1.counters.acquires_sent == 3
            for _ in range(3):
                await a1.mw(COUNTERS).call(key, Counter.read_stale)
            assert a1.counters.calls_sent == 3

    asyncio.run(main())


def test_stale_reads_use_the_cache_in_s6_mode():
    async def main() -> None:
        async with cluster(2, SCHEMA) as (a0, a1):
            key = key_homed_at(a0, 0)
            for _ in range(5):
                await a1.mw(COUNTERS).call(key, Counter.read_stale)
            assert a1.counters.calls_sent == 1

    asyncio.run(main())


@pytest.mark.parametrize("mode", [Mode.S6, Mode.STOP_AND_COPY])
def test_switch_moves_objects_to_their_new_home(mode):
    async def main() -> None:
        async with cluster(2, SCHEMA, mode) as (a0, a1):
            keys = [key_homed_at(a0, 0, s) for s in range(0, 4000, 40)]
            for key in keys:
                async with a0.sw(FLOWS).access(key) as flow:
                    flow.packets = 7
                a0.mw(COUNTERS).cast(key, Counter.add, 2)
            ks1 = KeySpace(1, tuple(1 for _ in a0.key_space.owners))
            for a in (a0, a1):
                await a.prepare(Prepare(ks1))
            await a0.switch(Switch(1))
            if mode is Mode.STOP_AND_COPY:
                assert a0.is_drained(0)
            await a1.switch(Switch(1))
            await a0.wait_drained(0, 5)
            assert a0.status().drained and not a0.sw(FLOWS).held()
            assert set(a1.sw(FLOWS).held()) == set(keys)
            for key in keys:
                async with a0.sw(FLOWS).access(key) as flow:
                    assert flow.packets == 7
                assert await a0.mw(COUNTERS).call(key, Counter.read) == 2

    asyncio.run(main())


def test_epoch_api_refuses_out_of_order_steps():
    async def main() -> None:
        async with cluster(2, SCHEMA) as (a0, _):
            ks1 = rebalance(a0.key_space, [0])
            with pytest.raises(ValueError, match="switch: epoch 1 is not prepared"):
                await a0.switch(Switch(1))
            with pytest.raises(ValueError, match="epoch 2 does not follow current 0"):
                await a0.prepare(Prepare(rebalance(ks1, [0, 1])))
            await a0.prepare(Prepare(ks1))
            await a0.switch(Switch(1))
            with pytest.raises(ValueError, match="epoch 0 is not retired"):
                await a0.prepare(Prepare(rebalance(ks1, [0, 1])))
            await a0.wait_drained(0, 5)
            a0.retire(0)
            await a0.prepare(Prepare(rebalance(ks1, [0, 1])))

    asyncio.run(main())
