"""Two agents, each with its own monitor program whose ``flows`` map is the DSO storage:
a key-space change moves the datapath's own entries from one map to the other."""

import asyncio

import pytest

from s6nf.agent.dso import AgentConfig, DsoAgent, Prepare, Schema, Switch, SwMap
from s6nf.agent.dso.ebpf_storage import EbpfStorage
from s6nf.agent.structs import FlowStatsRecord
from s6nf.keyspace import KeySpace
from tests.datapath.monitor_flows import monitor_storage, send, udp_flow, udp_key

pytestmark = pytest.mark.root

BUCKETS = 64
FLOWS = 300
MAX_FLOWS = 1024
MAP_ID = 20


@pytest.fixture(scope="module")
def loaded():
    with monitor_storage(MAX_FLOWS) as a, monitor_storage(MAX_FLOWS) as b:
        yield a, b


@pytest.fixture
def pair(loaded):
    for _, storage in loaded:
        for key in storage.snapshot():
            storage.delete(key)
    return loaded


def flows_map(storage: EbpfStorage[FlowStatsRecord]) -> SwMap[FlowStatsRecord]:
    return SwMap(MAP_ID, "monitor.flows", FlowStatsRecord, storage=lambda: storage)


async def start(storages, ks):
    decls = [flows_map(s) for s in storages]
    agents = [DsoAgent(AgentConfig(i, call_timeout_s=5.0), Schema([d]), ks)
              for i, d in enumerate(decls)]
    ports = [await a.start("127.0.0.1:0") for a in agents]
    addresses = {i: f"127.0.0.1:{p}" for i, p in enumerate(ports)}
    for a in agents:
        a.set_addresses(addresses)
    return agents, decls, addresses


def test_moved_buckets_take_their_datapath_entries_to_the_new_owner(pair):
    (prog_a, store_a), (prog_b, store_b) = pair
    ks0 = KeySpace(0, tuple([0] * (BUCKETS // 2) + [1] * (BUCKETS // 2)))
    flows = [udp_flow(i) for i in [i for i in range(4 * FLOWS)
                                   if ks0.home(udp_key(i)) == 0][:FLOWS]]
    for i, (packet, _) in enumerate(flows):
        send(prog_a, packet, times=1 + i % 5)
    before = {k: v for k, v in store_a.items()}
    assert len(before) == FLOWS
    ks1 = KeySpace(1, tuple(1 if b % 2 == 0 else o for b, o in enumerate(ks0.owners)))
    moved = {k for k in before if ks1.home(k) == 1}
    assert 0 < len(moved) < FLOWS

    async def scale() -> tuple[int, int]:
        agents, decls, addresses = await start([store_a, store_b], ks0)
        a, b = agents
        try:
            for agent in agents:
                await agent.prepare(Prepare(ks1, addresses))
            for agent in agents:
                await agent.switch(Switch(1))
            pulled = sorted(moved)[0]
            async with b.sw(decls[1]).access(pulled, create=False) as entry:
                assert entry.packets == before[pulled].packets
            for agent in agents:
                await agent.wait_drained(0, 10.0)
            for agent in agents:
                agent.retire(0)
            return a.counters.pushed, b.counters.received_pushes
        finally:
            for agent in agents:
                await agent.close()

    pushed, received = asyncio.run(asyncio.wait_for(scale(), 30))
    assert pushed == received > 0
    after_a, after_b = dict(store_a.items()), dict(store_b.items())
    assert after_b == {k: before[k] for k in moved}
    assert after_a == {k: v for k, v in before.items() if k not in moved}

    packet, key = next(f for f in flows if f[1] in moved)
    send(prog_b, packet)
    counted = store_b.read(key)
    assert counted is not None
    assert counted.packets == before[key].packets + 1
    assert counted.first_seen_ns == before[key].first_seen_ns
    assert store_a.get(key) is None


def test_a_full_new_owner_refuses_whole_batches_and_the_old_owner_keeps_them(pair):
    (prog_a, store_a), (_, store_b) = pair
    ks0 = KeySpace(0, tuple([0] * (BUCKETS // 2) + [1] * (BUCKETS // 2)))
    ks1 = KeySpace(1, tuple([1] * BUCKETS))
    keys = [udp_key(i) for i in range(3 * MAX_FLOWS)]
    mine = [udp_flow(i) for i, k in enumerate(keys) if ks0.home(k) == 0][:30]
    theirs = [k for k in keys if ks0.home(k) == 1][:MAX_FLOWS - 20]
    for packet, _ in mine:
        send(prog_a, packet, times=2)
    store_b.import_([(key, FlowStatsRecord(packets=1).to_bytes()) for key in theirs])
    before = dict(store_a.items())

    async def scale() -> int:
        agents, _, addresses = await start([store_a, store_b], ks0)
        a, b = agents
        try:
            for agent in agents:
                await agent.prepare(Prepare(ks1, addresses))
            for agent in agents:
                await agent.switch(Switch(1))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 5.0
            while b.counters.errors_answered == 0 and loop.time() < deadline:
                await asyncio.sleep(0.01)
            refused: int = b.counters.errors_answered
            assert refused > 0
            assert len(store_b) == len(theirs)
            assert dict(store_a.items()).keys() <= before.keys()
            assert len(store_a) + len(a.maps[MAP_ID].pushing) == len(mine)
            for key in theirs:
                store_b.delete(key)
            await a.wait_drained(0, 10.0)
            return refused
        finally:
            for agent in agents:
                await agent.close()

    asyncio.run(asyncio.wait_for(scale(), 30))
    assert dict(store_b.items()) == before
    assert len(store_a) == 0
