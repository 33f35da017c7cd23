"""Edges of epoch changes that the output-equivalence checker (s6nf.equiv) found."""

import asyncio

from s6nf.agent.dso import Mode, Prepare, Switch
from s6nf.keyspace import KeySpace
from tests.unit.dso.cluster import cluster, key_homed_at
from tests.unit.dso.test_agent_basics import FLOWS, SCHEMA


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
