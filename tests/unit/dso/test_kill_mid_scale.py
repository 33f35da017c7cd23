"""An agent that dies in the middle of a scale event takes no object with it.

A SIGKILL can land between two messages the victim sends to different peers (they travel on
different streams, and a killed process's sockets may deliver one and drop the other). Each
test cuts the victim off from one peer at one step of a migration, kills it, fails over to
the survivors and looks for the object where the new key space homes it.
"""

import asyncio
from contextlib import asynccontextmanager

from s6nf.agent.dso import AgentConfig, DsoAgent, Prepare, Replicas, Switch
from s6nf.agent.dso.errors import PeerLost
from s6nf.agent.dso.transport import Link
from s6nf.backup_ring import BackupRing, failover_key_space
from s6nf.keyspace import KeySpace, initial, rebalance
from tests.unit.dso.test_modes_and_epochs import wait_for
from tests.unit.dso.test_replica import SCHEMA, SYNC_FLOWS

BUCKETS = 64


@asynccontextmanager
async def agents_in(key_space: KeySpace):
    """Three agents in ``key_space`` keeping backups; replication passes only when a test
    flushes them."""
    agents = [DsoAgent(AgentConfig(i, replicas=Replicas.DECLARED, replicate_interval_s=600.0,
                                   call_timeout_s=2.0), SCHEMA, key_space) for i in range(3)]
    try:
        ports = [await a.start("127.0.0.1:0") for a in agents]
        addresses = {i: f"127.0.0.1:{p}" for i, p in enumerate(ports)}
        for a in agents:
            a.set_addresses(addresses)
        yield agents
    finally:
        for a in agents:
            await a.close()


def key_where(want, start: int = 0) -> bytes:
    for i in range(start, start + 100000):
        key = i.to_bytes(4, "big")
        if want(key):
            return key
    raise AssertionError("no such key")


def cut_off(monkeypatch, agent: DsoAgent, peer: int, black_hole: bool = False) -> list[Link]:
    """From now on ``agent``'s requests to ``peer`` fail at once, or with ``black_hole``
    are never delivered nor answered (``agent`` dies before they would be). Returns the
    black-hole link, for closing."""
    real = agent.channel.link_to
    holes: list[Link] = []

    async def nowhere(frame: bytes) -> None:
        await asyncio.Event().wait()

    def link_to(p: int) -> Link:
        if p != peer:
            return real(p)
        if not black_hole:
            raise PeerLost(f"instance {peer} is cut off")
        if not holes:
            holes.append(Link(peer, nowhere, 0.001, 64, 1 << 16))
        return holes[0]

    monkeypatch.setattr(agent.channel, "link_to", link_to)
    return holes


async def scale(agents: list[DsoAgent], nxt: KeySpace) -> None:
    addresses = dict(agents[0].channel.addresses)
    await asyncio.gather(*(a.prepare(Prepare(nxt, addresses)) for a in agents))
    await asyncio.gather(*(a.switch(Switch(nxt.epoch)) for a in agents))


async def fail_over(agents: list[DsoAgent], after: KeySpace, dead: int) -> int:
    """The survivors take ``dead``'s buckets over (``after``); returns the objects lost."""
    live = [a for a in agents if a.me != dead]
    addresses = {i: a for i, a in live[0].channel.addresses.items() if i != dead}
    reports = await asyncio.gather(*(a.fail_over(after, [dead], addresses) for a in live))
    for a in live:
        a.end_takeover()
    return sum(r.lost for r in reports)


async def packets_at_home(agents: list[DsoAgent], ks: KeySpace, key: bytes) -> int:
    home = agents[ks.home(key)]
    assert key in home.sw(SYNC_FLOWS).held(), "the object is not at its home"
    async with home.sw(SYNC_FLOWS).access(key, create=False) as flow:
        packets: int = flow.packets
        return packets


def test_a_backup_moved_by_the_switch_keeps_its_old_copy_until_the_new_one_has_it(monkeypatch):
    """The holder's first pass after the switch moves the copy to a new backup; the holder
    dies with the copy sent to the new backup lost: the old backup still has one."""
    async def main() -> None:
        first = initial([0, 1], BUCKETS)
        nxt = rebalance(first, [0, 1, 2])
        old_ring, new_ring = BackupRing(first), BackupRing(nxt)
        key = key_where(lambda k: first.home(k) == nxt.home(k) == 1
                        and old_ring.backup_of(1, k) == 0 and new_ring.backup_of(1, k) == 2)
        async with agents_in(first) as agents:
            async with agents[1].sw(SYNC_FLOWS).access(key) as flow:
                flow.packets = 7
            assert key in agents[0].backups[1][SYNC_FLOWS.map_id]
            cut_off(monkeypatch, agents[1], 2)
            await scale(agents, nxt)
            await agents[1].flush_replicas()
            assert key in agents[0].backups[1][SYNC_FLOWS.map_id], "deleted before replaced"
            await agents[1].close()
            after = failover_key_space(nxt, [1], nxt.epoch + 1)
            await fail_over(agents, after, 1)
            assert await packets_at_home(agents, after, key) == 7

    asyncio.run(main())


def test_the_newest_copy_wins_when_two_survivors_promote_one(monkeypatch):
    """The old backup's copy outlived the move (its deletion was lost); the home that takes
    over keeps its own, newer copy when the old backup pushes its promoted one."""
    async def main() -> None:
        first = initial([0, 1], BUCKETS)
        nxt = rebalance(first, [0, 1, 2])
        old_ring, new_ring = BackupRing(first), BackupRing(nxt)
        key = key_where(lambda k: first.home(k) == nxt.home(k) == 1
                        and old_ring.backup_of(1, k) == 0 and new_ring.backup_of(1, k) == 2)
        async with agents_in(first) as agents:
            async with agents[1].sw(SYNC_FLOWS).access(key) as flow:
                flow.packets = 7
            await scale(agents, nxt)
            cut_off(monkeypatch, agents[1], 0)
            async with agents[1].sw(SYNC_FLOWS).access(key) as flow:
                flow.packets = 8
            await agents[1].flush_replicas()
            assert key in agents[0].backups[1][SYNC_FLOWS.map_id]
            await agents[1].close()
            after = failover_key_space(nxt, [1], nxt.epoch + 1)
            await fail_over(agents, after, 1)
            await wait_for(lambda: not agents[0].maps[SYNC_FLOWS.map_id].pushing)
            assert await packets_at_home(agents, after, key) == 8
            assert key not in agents[0].sw(SYNC_FLOWS).held()

    asyncio.run(main())


def test_an_object_granted_to_an_agent_that_dies_before_its_copy_left_survives_at_home(
        monkeypatch):
    """The home grants an object away (its own copy is then deleted); the requester dies
    before its copy reached the home: the home kept the granted bytes as that copy."""
    async def main() -> None:
        ks = initial([0, 1, 2], BUCKETS)
        key = key_where(lambda k: ks.home(k) == 0)
        async with agents_in(ks) as agents:
            async with agents[0].sw(SYNC_FLOWS).access(key) as flow:
                flow.packets = 5
            async with agents[1].sw(SYNC_FLOWS).access(key) as flow:
                cut_off(monkeypatch, agents[1], 0)
                flow.packets = 6
            assert agents[1].replica_counters.sync_failures == 1
            await agents[0].flush_replicas()
            await agents[1].close()
            after = failover_key_space(ks, [1], ks.epoch + 1)
            assert await fail_over(agents, after, 1) == 0
            assert await packets_at_home(agents, after, key) == 5

    asyncio.run(main())


def test_a_late_deletion_from_the_holder_does_not_drop_the_copy_of_a_new_grant(monkeypatch):
    """The holder's pass saw the object gone (it was away) and deleted its copy at the home;
    that deletion arrives after the home granted the object to the holder again."""
    async def main() -> None:
        ks = initial([0, 1, 2], BUCKETS)
        key = key_where(lambda k: ks.home(k) == 0)
        async with agents_in(ks) as agents:
            ms = agents[1].maps[SYNC_FLOWS.map_id]
            async with agents[1].sw(SYNC_FLOWS).access(key) as flow:
                flow.packets = 6
            async with agents[0].sw(SYNC_FLOWS).access(key) as flow:
                flow.packets = 7
            async with agents[1].sw(SYNC_FLOWS).access(key) as flow:
                assert await agents[1]._send(ms, 0, [(key, b"")])
                cut_off(monkeypatch, agents[1], 0)
                flow.packets = 9
            await agents[1].close()
            after = failover_key_space(ks, [1], ks.epoch + 1)
            assert await fail_over(agents, after, 1) == 0
            assert await packets_at_home(agents, after, key) == 7

    asyncio.run(main())


def test_a_push_is_acknowledged_only_once_the_receivers_backup_has_it(monkeypatch):
    """An object held away from home goes home at the switch; the home dies before its
    backup has the object: the pusher was not told it arrived, so it still holds it."""
    async def main() -> None:
        first = initial([0, 1], BUCKETS)
        nxt = rebalance(first, [0, 1, 2])
        key = key_where(lambda k: first.home(k) == nxt.home(k) == 1
                        and BackupRing(nxt).backup_of(1, k) == 2)
        async with agents_in(first) as agents:
            async with agents[0].sw(SYNC_FLOWS).access(key) as flow:
                flow.packets = 3
            holes = cut_off(monkeypatch, agents[1], 2, black_hole=True)
            await scale(agents, nxt)
            await wait_for(lambda: key in agents[1].sw(SYNC_FLOWS).held())
            await asyncio.sleep(0.05)
            assert key in agents[0].maps[SYNC_FLOWS.map_id].pushing, "acknowledged too early"
            await agents[1].close()
            for hole in holes:
                hole.close("test over")
            after = failover_key_space(nxt, [1], nxt.epoch + 1)
            await fail_over(agents, after, 1)
            assert await packets_at_home(agents, after, key) == 3

    asyncio.run(main())


def test_a_failover_between_prepare_and_switch_releases_the_buckets_held_since_prepare():
    """Steering followed the prepared epoch, the switch never came: the buckets the new
    instance held for a dead previous owner are released, the others are settled."""
    async def main() -> None:
        first = initial([0, 1], BUCKETS)
        nxt = rebalance(first, [0, 1, 2])
        async with agents_in(first) as agents:
            addresses = dict(agents[0].channel.addresses)
            await asyncio.gather(*(a.prepare(Prepare(nxt, addresses)) for a in agents))
            assert agents[2].held_buckets() > 0
            await agents[1].close()
            after = failover_key_space(nxt, [1], nxt.epoch + 1)
            await fail_over(agents, after, 1)
            await wait_for(lambda: agents[2].held_buckets() == 0, 3.0)
            from_zero = key_where(lambda k: first.home(k) == 0 and nxt.home(k) == 2)
            assert agents[2].handoff_wait(from_zero) is None

    asyncio.run(main())


def test_an_object_a_home_pulled_for_itself_survives_the_home_dying_before_its_backup_has_it(
        monkeypatch):
    """The home takes an object back from its holder to use it itself; the holder's copy of
    it, kept at the home, goes with the hand-over, and the home dies before its own backup
    has the object: the holder kept the bytes it gave as the home's copy (``Flag.KEEP_COPY``)."""
    async def main() -> None:
        ks = initial([0, 1, 2], BUCKETS)
        ring = BackupRing(ks)
        key = key_where(lambda k: ks.home(k) == 0 and ring.backup_of(0, k) == 2)
        async with agents_in(ks) as agents:
            async with agents[1].sw(SYNC_FLOWS).access(key) as flow:
                flow.packets = 6
            assert key in agents[0].backups[1][SYNC_FLOWS.map_id]
            cut_off(monkeypatch, agents[0], 2)
            async with agents[0].sw(SYNC_FLOWS).access(key) as flow:
                assert flow.packets == 6
                flow.packets = 7
            assert agents[0].replica_counters.sync_failures == 1
            assert key not in agents[0].backups[1][SYNC_FLOWS.map_id]
            assert key in agents[1].backups[0][SYNC_FLOWS.map_id], "the giver kept no copy"
            await agents[0].close()
            after = failover_key_space(ks, [0], ks.epoch + 1)
            assert await fail_over(agents, after, 0) == 0
            assert await packets_at_home(agents, after, key) == 6

    asyncio.run(main())


def test_the_givers_copy_is_deleted_once_the_pulling_homes_backup_has_the_object():
    """The copy a giver keeps for a home that pulled is temporary: once the home's own
    backup acknowledged the object, the home deletes it (``stale_copies``)."""
    async def main() -> None:
        ks = initial([0, 1, 2], BUCKETS)
        ring = BackupRing(ks)
        key = key_where(lambda k: ks.home(k) == 0 and ring.backup_of(0, k) == 2)
        async with agents_in(ks) as agents:
            async with agents[1].sw(SYNC_FLOWS).access(key) as flow:
                flow.packets = 6
            async with agents[0].sw(SYNC_FLOWS).access(key) as flow:
                flow.packets = 7
            assert key in agents[2].backups[0][SYNC_FLOWS.map_id]
            await wait_for(lambda: key not in agents[1].backups.get(0, {}).get(
                SYNC_FLOWS.map_id, {}))

    asyncio.run(main())
