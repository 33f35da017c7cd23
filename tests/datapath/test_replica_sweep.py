"""Replication of an eBPF-backed map whose entries the kernel creates and updates: the
monitor's real ``flows`` map, filled and counted by packets through BPF_PROG_TEST_RUN. A pass
reads a bounded slice of the map; the kernel's updates reach the backup within one sweep, the
agent's own writes and deletions with the next pass."""

import asyncio
import math

import pytest

from s6nf.agent.dso import AgentConfig, DsoAgent, Replicas, Schema, SwMap
from s6nf.agent.dso.ebpf_storage import EbpfStorage
from s6nf.agent.structs import FlowStatsRecord
from s6nf.backup_ring import BackupRing
from s6nf.keyspace import initial
from tests.datapath.monitor_flows import monitor_storage, send, udp_flow

pytestmark = pytest.mark.root

MAP_ID = 21
PER_PASS = 16
FLOWS = 100


@pytest.fixture(scope="module")
def loaded():
    with monitor_storage(1024) as a, monitor_storage(1024) as b:
        yield a, b


@pytest.fixture
def pair(loaded):
    for _, storage in loaded:
        for key in storage.snapshot():
            storage.delete(key)
    return loaded


def flows_map(storage: EbpfStorage[FlowStatsRecord]) -> SwMap[FlowStatsRecord]:
    return SwMap(MAP_ID, "monitor.flows", FlowStatsRecord, storage=lambda: storage)


async def start(storages: list[EbpfStorage[FlowStatsRecord]], period_s: float = 0.0
                ) -> tuple[list[DsoAgent], list[SwMap[FlowStatsRecord]]]:
    ks = initial([0, 1], 64)
    agents = []
    decls = [flows_map(storage) for storage in storages]
    for i, decl in enumerate(decls):
        config = AgentConfig(i, replicas=Replicas.ASYNC, replicate_interval_s=3600.0,
                             replicate_sweep=PER_PASS, replicate_sweep_s=period_s)
        agents.append(DsoAgent(config, Schema([decl]), ks))
    ports = [await a.start("127.0.0.1:0") for a in agents]
    for a in agents:
        a.set_addresses({i: f"127.0.0.1:{p}" for i, p in enumerate(ports)})
    return agents, decls


def copies(agents: list[DsoAgent]) -> dict[bytes, bytes]:
    return agents[1].backups.get(0, {}).get(MAP_ID, {})


def stale(agents: list[DsoAgent], storage: EbpfStorage[FlowStatsRecord]) -> list[bytes]:
    """Keys held at agent 0 whose copy at agent 1 is missing or differs."""
    held = dict((k, v.to_bytes()) for k, v in storage.items())
    return [k for k, data in held.items() if copies(agents).get(k) != data]


def test_kernel_updates_reach_the_backup_within_one_sweep_of_bounded_passes(pair):
    (prog, storage), _ = pair
    flows = [f for f in (udp_flow(i) for i in range(4 * FLOWS))
             if initial([0, 1], 64).home(f[1]) == 0][:FLOWS]

    async def main() -> None:
        agents, _ = await start([s for _, s in pair])
        try:
            for packet, _ in flows:
                send(prog, packet)
            ring = BackupRing(agents[0].key_space)
            assert {ring.backup_of(0, k) for _, k in flows} == {1}
            await agents[0].flush_replicas()
            assert stale(agents, storage) == [], "the first pass reads the whole map"

            for packet, _ in flows:
                send(prog, packet)
            bound = math.ceil(FLOWS / PER_PASS) + 1
            counters = agents[0].replica_counters
            passes = 0
            while stale(agents, storage):
                before = counters.swept
                await agents[0].flush_replicas()
                passes += 1
                assert counters.swept - before <= PER_PASS
                assert passes <= bound, f"{len(stale(agents, storage))} copies still stale"
            assert passes >= FLOWS // PER_PASS, "a pass read more than its slice"
            assert counters.sweeps >= 1 and agents[0].sweep_passes() <= bound
        finally:
            for a in agents:
                await a.close()

    asyncio.run(main())


def test_the_agents_writes_and_deletions_reach_the_backup_with_the_next_pass(pair):
    (prog, storage), _ = pair
    flows = [f for f in (udp_flow(i) for i in range(4 * FLOWS))
             if initial([0, 1], 64).home(f[1]) == 0][:FLOWS]

    async def main() -> None:
        agents, decls = await start([s for _, s in pair])
        try:
            for packet, _ in flows:
                send(prog, packet)
            await agents[0].flush_replicas()
            gone, written = flows[7][1], flows[50][1]
            assert gone in copies(agents)
            handle = agents[0].sw(decls[0])
            assert await handle.remove(gone)
            async with handle.access(written) as flow:
                flow.tcp_flags = 0x80
            await agents[0].flush_replicas()
            assert gone not in copies(agents), "a deletion waited for the sweep"
            copy = storage.read(written)
            assert copy is not None and copies(agents)[written] == copy.to_bytes()

            fresh, fresh_key = flows[-1]
            storage.delete(fresh_key)
            await agents[0].flush_replicas()
            assert fresh_key not in copies(agents)
            send(prog, fresh)
            for _ in range(math.ceil(FLOWS / PER_PASS) + 1):
                await agents[0].flush_replicas()
            assert fresh_key in copies(agents), "an entry the kernel made reached no backup"
        finally:
            for a in agents:
                await a.close()

    asyncio.run(main())


def test_a_sweep_begins_at_most_once_a_period_so_a_small_maps_counters_are_not_sent_every_pass(
        pair):
    (prog, storage), _ = pair
    flows = [f for f in (udp_flow(i) for i in range(4 * FLOWS))
             if initial([0, 1], 64).home(f[1]) == 0][:PER_PASS // 2]

    async def main() -> None:
        agents, _ = await start([s for _, s in pair], period_s=0.3)
        try:
            for packet, _ in flows:
                send(prog, packet)
            await agents[0].flush_replicas()
            assert stale(agents, storage) == []
            for packet, _ in flows:
                send(prog, packet)
            counters = agents[0].replica_counters
            before = counters.swept
            await agents[0].flush_replicas()
            assert counters.swept == before and len(stale(agents, storage)) == len(flows)
            await asyncio.sleep(0.3)
            await agents[0].flush_replicas()
            assert counters.swept == before + len(flows) and stale(agents, storage) == []
        finally:
            for a in agents:
                await a.close()

    asyncio.run(main())
