"""Backups, takeover by the backups when an agent dies, and a restarted agent resuming."""

import asyncio

from s6nf.agent.dso import AgentConfig, DsoAgent, MwMap, Replicas, Replication, Schema, SwMap
from s6nf.backup_ring import BackupRing, failover_key_space
from tests.unit.dso.cluster import cluster, key_homed_at
from tests.unit.dso.test_agent_basics import Counter, Flow
from tests.unit.dso.test_modes_and_epochs import wait_for

FLOWS = SwMap(1, "flows", Flow)
SYNC_FLOWS = SwMap(3, "sync_flows", Flow, replication=Replication.SYNC)
COUNTERS = MwMap(2, "counters", Counter, replication=Replication.SYNC)
SCHEMA = Schema([FLOWS, SYNC_FLOWS, COUNTERS])
FIRST_FLOWS = SwMap(4, "first_flows", Flow, replication=Replication.SYNC_FIRST)
LAG_S = 0.05


def copy_of(agents, holder, map_id, key):
    """The backup's copy of ``key`` held at ``holder``, and which agent keeps it."""
    backup = BackupRing(agents[holder].key_space).backup_of(holder, key)
    copies = agents[backup].backups.get(holder, {}).get(map_id, {})
    return backup, copies.get(key)


def test_the_ring_gives_a_dead_instances_buckets_to_its_backups_spread_over_survivors():
    async def main() -> None:
        async with cluster(3, SCHEMA, buckets=256) as agents:
            ks = agents[0].key_space
            ring = BackupRing(ks)
            after = failover_key_space(ks, [1], ks.epoch + 1)
            assert 1 not in after.instances
            for i in range(2000):
                key = i.to_bytes(4, "big")
                if ks.home(key) == 1:
                    assert ring.backup_of(1, key) == after.home(key)
                else:
                    assert after.home(key) == ks.home(key)
                    assert ring.backup_of(2, key) != 2
            load = after.load()
            assert abs(load[0] - load[2]) < 40

    asyncio.run(main())


def test_async_copies_follow_within_the_interval_and_deletions_too():
    async def main() -> None:
        async with cluster(3, SCHEMA, replicas=Replicas.DECLARED,
                           replicate_interval_s=LAG_S) as agents:
            key = key_homed_at(agents[0], 0)
            async with agents[0].sw(FLOWS).access(key) as flow:
                flow.packets = 7
            backup, _ = copy_of(agents, 0, FLOWS.map_id, key)
            await wait_for(lambda: copy_of(agents, 0, FLOWS.map_id, key)[1] is not None, 1.0)
            assert backup != 0
            await agents[0].sw(FLOWS).remove(key)
            await wait_for(lambda: copy_of(agents, 0, FLOWS.map_id, key)[1] is None, 1.0)

    asyncio.run(main())


def test_sync_objects_are_at_the_backup_when_the_access_or_call_returns():
    async def main() -> None:
        async with cluster(3, SCHEMA, replicas=Replicas.DECLARED,
                           replicate_interval_s=60.0) as agents:
            key = key_homed_at(agents[1], 1)
            async with agents[1].sw(SYNC_FLOWS).access(key) as flow:
                flow.packets = 3
            assert copy_of(agents, 1, SYNC_FLOWS.map_id, key)[1] is not None
            async with agents[1].sw(FLOWS).access(key) as flow:
                flow.packets = 3
            assert copy_of(agents, 1, FLOWS.map_id, key)[1] is None, "async waits for a pass"
            await agents[2].mw(COUNTERS).call(key, Counter.swap, 41)
            assert copy_of(agents, 1, COUNTERS.map_id, key)[1] is not None

    asyncio.run(main())


def test_sync_first_objects_wait_for_their_first_copy_only():
    async def main() -> None:
        async with cluster(3, Schema([FIRST_FLOWS]), replicas=Replicas.DECLARED,
                           replicate_interval_s=60.0) as agents:
            key = key_homed_at(agents[1], 1)
            flows, counters = agents[1].sw(FIRST_FLOWS), agents[1].replica_counters
            async with flows.access(key) as flow:
                flow.packets = 3
            first = copy_of(agents, 1, FIRST_FLOWS.map_id, key)[1]
            assert first is not None, "a new object is at its backup when the access returns"
            agents[1].replicate_pass()
            sends = counters.sync_sends
            async with flows.access(key) as flow:
                flow.packets = 4
            assert counters.sync_sends == sends
            assert copy_of(agents, 1, FIRST_FLOWS.map_id, key)[1] == first, "waits for a pass"
            agents[1].replicate_pass()
            await wait_for(lambda: copy_of(agents, 1, FIRST_FLOWS.map_id, key)[1] != first, 1.0)

    asyncio.run(main())


def test_backups_take_over_a_dead_agents_objects_and_new_backups_are_made():
    async def main() -> None:
        async with cluster(3, SCHEMA, replicas=Replicas.DECLARED,
                           replicate_interval_s=LAG_S) as agents:
            keys = [key_homed_at(agents[0], 1, start) for start in range(0, 4000, 100)]
            keys = list(dict.fromkeys(keys))
            for n, key in enumerate(keys):
                async with agents[1].sw(SYNC_FLOWS).access(key) as flow:
                    flow.packets = n + 1
                await agents[0].mw(COUNTERS).call(key, Counter.swap, n + 100)
            await agents[1].close()
            ks = agents[0].key_space
            after = failover_key_space(ks, [1], ks.epoch + 1)
            addresses = {i: a for i, a in agents[0].channel.addresses.items() if i != 1}
            reports = await asyncio.gather(*(agents[i].fail_over(after, [1], addresses)
                                             for i in (0, 2)))
            assert agents[0].paused and agents[2].paused
            for i in (0, 2):
                agents[i].end_takeover()
            assert sum(r.promoted for r in reports) == 2 * len(keys)
            assert sum(r.lost for r in reports) == 0
            for n, key in enumerate(keys):
                home = after.home(key)
                assert key in agents[home].sw(SYNC_FLOWS).held()
                async with agents[0].sw(SYNC_FLOWS).access(key, create=False) as flow:
                    assert flow.packets == n + 1
                assert await agents[2].mw(COUNTERS).call(key, Counter.read) == n + 100
            for key in keys:
                holder = 0 if key in agents[0].sw(SYNC_FLOWS).held() else 2
                backup, data = copy_of(agents, holder, SYNC_FLOWS.map_id, key)
                assert backup != 1 and data is not None

    asyncio.run(main())


def test_a_restarted_agent_takes_back_its_python_objects_and_its_directory():
    async def main() -> None:
        async with cluster(3, SCHEMA, replicas=Replicas.DECLARED,
                           replicate_interval_s=LAG_S) as agents:
            key = key_homed_at(agents[0], 2)
            await agents[0].mw(COUNTERS).call(key, Counter.swap, 5)
            away = key_homed_at(agents[0], 2, 5000)
            async with agents[0].sw(FLOWS).access(away) as flow:
                flow.packets = 9
            ks, addresses = agents[2].key_space, dict(agents[0].channel.addresses)
            await agents[2].close()
            config = AgentConfig(2, replicas=Replicas.DECLARED, replicate_interval_s=LAG_S)
            fresh = DsoAgent(config, SCHEMA, type(ks)(0, (2,) * ks.buckets))
            try:
                port = await fresh.start("127.0.0.1:0")
                addresses[2] = f"127.0.0.1:{port}"
                for a in agents[:2]:
                    a.set_addresses(addresses)
                assert await fresh.resume(ks, addresses) >= 1
                assert await agents[1].mw(COUNTERS).call(key, Counter.read) == 5
                assert fresh.maps[FLOWS.map_id].directory[away] == 0
                async with fresh.sw(FLOWS).access(away, create=False) as flow:
                    assert flow.packets == 9
            finally:
                await fresh.close()

    asyncio.run(main())


def test_an_access_whose_holder_dies_mid_request_waits_for_the_failover_and_goes_on():
    """The request fails when the holder's stream breaks; the access waits for the failover
    and takes the promoted copy at the key's new home: its packet is not dropped."""
    async def main() -> None:
        async with cluster(3, SCHEMA, replicas=Replicas.DECLARED, replicate_interval_s=60.0,
                           call_timeout_s=2.0) as agents:
            key = key_homed_at(agents[0], 1)
            async with agents[1].sw(SYNC_FLOWS).access(key) as flow:
                flow.packets = 5
            pinned, release = asyncio.Event(), asyncio.Event()

            async def hold() -> None:
                async with agents[1].sw(SYNC_FLOWS).access(key):
                    pinned.set()
                    await release.wait()

            holder = asyncio.create_task(hold())
            await pinned.wait()
            waiting = asyncio.create_task(_packets_at(agents[0], key))
            await wait_for(lambda: agents[1].sw(SYNC_FLOWS).held() and any(
                ms.turns.busy(key) for ms in agents[1].maps.values()), 1.0)
            await agents[1].kill()
            holder.cancel()
            await asyncio.sleep(0.05)
            assert not waiting.done(), "the access gave up before any failover"
            ks = agents[0].key_space
            after = failover_key_space(ks, [1], ks.epoch + 1)
            addresses = {i: a for i, a in agents[0].channel.addresses.items() if i != 1}
            await asyncio.gather(*(agents[i].fail_over(after, [1], addresses) for i in (0, 2)))
            for i in (0, 2):
                agents[i].end_takeover()
            assert await asyncio.wait_for(waiting, 2.0) == 5

    asyncio.run(main())


async def _packets_at(agent: DsoAgent, key: bytes) -> int:
    async with agent.sw(SYNC_FLOWS).access(key, create=False) as flow:
        return int(flow.packets)
