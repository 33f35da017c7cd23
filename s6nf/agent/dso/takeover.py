"""Taking over a dead instance's objects, and resuming after a restart (docs/failover.md).

``fail_over`` is what the controller sends every survivor after it declared instances dead
and re-steered their buckets (each to the first live owner after it on the backup ring, so
to the instance that kept the copies): accesses pause, the dead are fenced (nothing they
still send is applied), copies kept for them are promoted into storage where nobody alive
holds the object, objects held here whose home moved (promoted copies too) are pushed to the
new home as in a scale event, and every object whose backup was a dead instance gets a new
one. It returns once the pushes are acknowledged; ``end_takeover``, sent when every survivor
has returned, lets accesses go on: no home can then conclude an object is absent while its
copy is on the way to it.

``resume`` is a restarted agent taking up its place in the key space: its eBPF-backed
objects are still in the pinned maps; objects it kept in Python come back from the copies
its peers keep, and its directory from what the peers hold that is homed here.
``discard`` is the opposite: an agent that was declared dead and comes back holds stale
copies of objects that live elsewhere now; it drops them before it may join again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from s6nf.agent.dso.config import AgentConfig, Prepare
from s6nf.agent.dso.errors import DsoError, StorageFull
from s6nf.agent.dso.maps import Schema
from s6nf.agent.dso.replica import ReplicaMixin, ReplicaOp, persistent
from s6nf.agent.dso.state import MapState
from s6nf.agent.dso.transport import Link
from s6nf.agent.dso.wire import Kind, decode_entries
from s6nf.keyspace import KeySpace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TakeoverReport:
    """What one survivor did in a failover."""

    epoch: int
    promoted: int
    """Copies made live here."""
    lost: int
    """Objects a dead instance held of which this home had no copy."""
    to_push: int
    """Objects held here whose home moved (they go to the new home)."""


class Gate(asyncio.Event):
    """The agent's pause event (``AgentCore._resumed``), which a takeover can hold shut: a
    stop-and-copy ``wait_drained`` still running for an aborted scale event must not let
    accesses go on in the middle of a takeover."""

    def __init__(self) -> None:
        super().__init__()
        self.held = False

    def set(self) -> None:
        if not self.held:
            super().set()

    def hold(self) -> None:
        self.held = True
        self.clear()

    def release(self) -> None:
        self.held = False
        super().set()


class TakeoverMixin(ReplicaMixin):
    def __init__(self, config: AgentConfig, schema: Schema, key_space: KeySpace) -> None:
        super().__init__(config, schema, key_space)
        self._gate = Gate()
        self._gate.set()
        self._resumed = self._gate
        self._unsettled = False
        """A failover came between a prepare and its switch: the buckets held since the
        prepare are settled with their previous targets when the takeover ends."""

    def on_frame(self, link: Link, frame: bytes) -> None:
        if link.peer is not None and link.peer in self.fenced:
            link.close(f"instance {link.peer} was declared dead")
            return
        super().on_frame(link, frame)

    async def prepare(self, msg: Prepare) -> None:
        self.fenced -= msg.key_space.instances
        await super().prepare(msg)

    async def fail_over(self, ks: KeySpace, dead: Collection[int],
                        addresses: Mapping[int, str]) -> TakeoverReport:
        """Take key space ``ks`` at once: the controller re-steered ``dead``'s buckets."""
        if ks.epoch == self.epoch and ks.owners == self.key_space.owners:
            return TakeoverReport(ks.epoch, 0, 0, self.to_push())
        if ks.epoch <= self.epoch or (self.next is not None and ks.epoch <= self.next.epoch):
            raise ValueError(f"failover epoch {ks.epoch} does not follow {self.epoch}")
        if ks.buckets != self.key_space.buckets:
            raise ValueError(f"failover: {ks.buckets} buckets, current has "
                             f"{self.key_space.buckets}")
        dead = set(dead)
        self.fenced |= dead
        for peer in dead:
            self.channel.drop(peer, "declared dead")
        self.channel.set_addresses(addresses)
        old = self.key_space
        self._unsettled = self._unsettled or self.next is not None
        self.next = None
        self.release_handoff(dead)
        self.previous = old
        self.key_space = ks
        self._gate.hold()
        copies: dict[int, dict[bytes, bytes]] = {}
        for origin in dead:
            for map_id, objects in self.backups.pop(origin, {}).items():
                copies.setdefault(map_id, {}).update(objects)
        self.promoted.clear()
        promoted = lost = 0
        for ms in self.maps.values():
            self._rehome(ms, old)
            p, lo = self._promote(ms, copies.get(ms.map_id, {}), dead)
            promoted += p
            lost += lo
        self.replica_counters.promoted += promoted
        self.replica_counters.lost += lost
        log.warning("agent %d: took over from %s in epoch %d: %d copies promoted, %d objects "
                    "lost", self.me, sorted(dead), self.epoch, promoted, lost)
        self.push_soon(None)
        self.replicate_pass()
        await self._pushed(self.config.call_timeout_s * 2)
        return TakeoverReport(self.epoch, promoted, lost, self.to_push())

    async def _pushed(self, timeout_s: float) -> None:
        """Until what must leave has been acknowledged by its new home."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.to_push() or self._in_flight(copied=True):
            if loop.time() > deadline:
                raise TimeoutError(f"agent {self.me}: takeover pushes not acknowledged after "
                                   f"{timeout_s} s: {self.status()}")
            await asyncio.sleep(0.002)

    def end_takeover(self) -> None:
        """Every survivor has taken over: accesses go on, those whose request to a dead
        instance failed try again (``after_failover``), and a handoff that the failover
        overtook begins (steering already follows the epoch that was prepared)."""
        self._gate.release()
        if self._unsettled:
            self._unsettled = False
            self.start_handoff()
        self._ended_takeover()

    def _rehome(self, ms: MapState, old: KeySpace) -> None:
        """``switched`` for a failover: objects whose home did not move stay current here."""
        me, epoch = self.me, self.epoch
        for key, owner in list(ms.directory.items()):
            if self.home_of(key) != me:
                del ms.directory[key]
                ms.old_directory[key] = owner
        for key in ms.storage.snapshot():
            home = self.home_of(key)
            if home == me:
                ms.directory[key] = me
            if home == me or (home == old.home(key)
                              and ms.owned_epoch.get(key, 0) >= old.epoch):
                ms.owned_epoch[key] = epoch
        ms.stale_cache.clear()

    def _promote(self, ms: MapState, copies: dict[bytes, bytes],
                 dead: set[int]) -> tuple[int, int]:
        me = self.me
        live: list[tuple[bytes, bytes]] = []
        for key, data in copies.items():
            if ms.storage.get(key) is not None:
                continue
            owner = ms.directory.get(key)
            if owner is not None and owner not in dead and owner != me:
                continue
            live.append((key, data))
        try:
            ms.storage.import_(live)
        except StorageFull as exc:
            log.error("agent %d: no room to promote %d %s copies: %s", me, len(live),
                      ms.decl.name, exc)
            live = []
        mine = self.promoted.setdefault(ms.map_id, set())
        for key, _ in live:
            if self.home_of(key) == me:
                ms.directory[key] = me
                ms.owned_epoch[key] = self.epoch
                mine.add(key)
            else:
                ms.owned_epoch[key] = -1
                self.promoted_copies(ms).add(key)
            ms.arrived(key)
        lost = 0
        for key, owner in list(ms.directory.items()):
            if owner in dead:
                del ms.directory[key]
                lost += 1
        return len(live), lost

    async def resume(self, ks: KeySpace, addresses: Mapping[int, str]) -> int:
        """A restarted agent takes its place in ``ks`` without moving anything; returns the
        objects it recovered from its peers' copies."""
        if ks.buckets != self.key_space.buckets:
            raise ValueError(f"resume: {ks.buckets} buckets, this agent has "
                             f"{self.key_space.buckets}")
        self.channel.set_addresses(addresses)
        self.previous = self.next = None
        self.key_space = ks
        me, epoch = self.me, self.epoch
        peers = sorted(ks.instances - {me})
        recovered = 0
        for ms in self.maps.values():
            if self.replicates(ms) and not persistent(ms.storage):
                for peer in peers:
                    got = await self._ask(peer, ReplicaOp.RECOVER, ms)
                    fresh = [(k, d) for k, d in got if ms.storage.get(k) is None]
                    ms.storage.import_(fresh)
                    recovered += len(fresh)
            for key in ms.storage.snapshot():
                ms.owned_epoch[key] = epoch
                if self.home_of(key) == me:
                    ms.directory[key] = me
            for peer in peers:
                for key, _ in await self._ask(peer, ReplicaOp.HOMED, ms):
                    if ms.storage.get(key) is None:
                        ms.directory[key] = peer
        self.replica_counters.recovered += recovered
        log.info("agent %d resumed in epoch %d: %d objects recovered from copies", me, epoch,
                 recovered)
        self.replicate_pass()
        return recovered

    async def _ask(self, peer: int, op: ReplicaOp, ms: MapState) -> list[tuple[bytes, bytes]]:
        try:
            reply = self.check(
                await self.request(peer, Kind.REPLICA, op, ms.map_id, 0, b"", b""),
                f"{op.name} of {ms.decl.name} from instance {peer}")
        except DsoError as exc:
            log.warning("agent %d: %s; going on without it", self.me, exc)
            return []
        return decode_entries(reply.body)

    def discard(self) -> int:
        """Drop every object, directory entry and copy held here (stale after a failover);
        returns how many objects were dropped."""
        dropped = 0
        for ms in self.maps.values():
            keys = ms.storage.snapshot()
            dropped += len(ms.storage.export(keys))
            ms.directory.clear()
            ms.old_directory.clear()
            ms.owned_epoch.clear()
            ms.stale_cache.clear()
        self.backups.clear()
        for sent in self._sent.values():
            sent.clear()
        for stale in self._stale.values():
            stale.clear()
        self.copies_to_push.clear()
        self.previous = self.next = None
        return dropped
