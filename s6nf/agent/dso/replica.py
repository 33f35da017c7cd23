"""Backups: every object an agent holds has a copy at a second instance (docs/failover.md).

The holder sends its objects to their backup (``BackupRing``) every ``replicate_interval_s``:
the objects the agent wrote or deleted since the last pass (marked dirty by an access or a
MultiWriter call, or recorded by the eBPF storage), and for maps kept in an eBPF map, whose
counters the kernel changes in place, the next ``replicate_sweep`` entries of a sweep that
goes round the map (``replica_sweep``): each is compared, as bytes, with what was last sent.
Objects of a map marked synchronous are sent before the access block or the call returns,
and wait for the backup's acknowledgement. A backup keeps the copies per origin and does
nothing with them until the controller declares the origin dead (``takeover``).

Messages are ``Kind.REPLICA`` with a ``ReplicaOp`` in the status byte; their bodies are PUSH
entries (an empty object means "deleted").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from s6nf.agent.dso.config import AgentConfig, Replicas
from s6nf.agent.dso.ebpf_storage import EbpfStorage
from s6nf.agent.dso.errors import DsoError
from s6nf.agent.dso.maps import MethodSpec, Replication, Schema
from s6nf.agent.dso.migration import MigrationMixin
from s6nf.agent.dso.multiwriter import Done, MultiWriterMixin, Origin
from s6nf.agent.dso.replica_sweep import MapSweep
from s6nf.agent.dso.stale_copies import StaleCopies
from s6nf.agent.dso.state import MapState
from s6nf.agent.dso.storage import PyStorage
from s6nf.agent.dso.transport import Link
from s6nf.agent.dso.wire import (
    Flag,
    Kind,
    MalformedFrame,
    Message,
    Status,
    decode_entries,
    encode_entries,
)
from s6nf.backup_ring import BackupRing
from s6nf.keyspace import KeySpace

log = logging.getLogger(__name__)

BATCH = 2048
"""Entries per replication message."""
Entries = list[tuple[bytes, bytes]]


class ReplicaOp(IntEnum):
    UPDATE = 0
    """Holder → backup: store these copies (an empty object deletes the copy)."""
    RECOVER = 1
    """Restarted agent → peer: answer with the copies you keep of my objects of this map."""
    HOMED = 2
    """Restarted agent → peer: answer with the keys you hold that are homed at me."""


@dataclass
class ReplicaCounters:
    copies_sent: int = 0
    deletes_sent: int = 0
    copies_received: int = 0
    sync_sends: int = 0
    sync_failures: int = 0
    """Synchronous sends not acknowledged in time (sent again with the next batch)."""
    batches_failed: int = 0
    promoted: int = 0
    """Copies this agent took over from a dead instance."""
    lost: int = 0
    """Objects a dead instance held that had no copy here (the directory forgot them)."""
    recovered: int = 0
    """Copies a restarted agent took back from its peers."""
    swept: int = 0
    """eBPF map entries read by replication passes to find the kernel's changes."""
    sweeps: int = 0
    """Whole sweeps of eBPF maps completed."""


def persistent(storage: Any) -> bool:
    """Objects kept in a pinned eBPF map survive the agent (and are changed by the kernel)."""
    return isinstance(storage, EbpfStorage)


def object_bytes(storage: Any, key: bytes) -> bytes | None:
    """The bytes of ``key``'s object held in ``storage`` (None: not held), left in place."""
    if isinstance(storage, EbpfStorage):
        raw = storage.raw
        data: bytes | None = raw.lookup(key + bytes(raw.key_size - storage.key_len))
        return data
    if isinstance(storage, PyStorage):
        obj = storage.get(key)
        return None if obj is None else storage.codec.to_bytes(obj)
    raise TypeError(f"cannot replicate objects of a {type(storage).__name__}")


def all_bytes(storage: EbpfStorage[Any]) -> dict[bytes, bytes]:
    n = storage.key_len
    return {k[:n]: v for k, v in storage.raw.items()}


@dataclass
class SyncBatch:
    """Synchronous sends to one backup of one map, gathered until the event loop's next turn."""

    entries: dict[bytes, bytes]
    sent: asyncio.Future[bool]
    """Resolved with whether the backup acknowledged them (within ``replica_timeout_s``)."""


class ReplicaMixin(MultiWriterMixin, MigrationMixin):
    def __init__(self, config: AgentConfig, schema: Schema, key_space: KeySpace) -> None:
        super().__init__(config, schema, key_space)
        self.replica_counters = ReplicaCounters()
        self.backups: dict[int, dict[int, dict[bytes, bytes]]] = {}
        """origin instance → map id → key → the origin's object bytes."""
        self._sent: dict[int, dict[bytes, tuple[int, bytes]]] = {}
        """map id → key → (backup, bytes) last sent (cleared again if the send failed)."""
        self._dirty: dict[int, set[bytes]] = {}
        self._sweeps: dict[int, MapSweep] = {}
        self._stale: dict[int, StaleCopies] = {}
        """map id → copies replaced by newer ones at another backup, deleted once that one
        has acknowledged (``stale_copies``)."""
        self.promoted: dict[int, set[bytes]] = {}
        """map id → keys taken over from a dead instance's backup since the last failover."""
        self.copies_to_push: dict[int, set[bytes]] = {}
        """map id → keys promoted here that go on to their home as copies (``Flag.COPY``)."""
        self._ring: BackupRing | None = None
        self._passed_ring: BackupRing | None = None
        """The ring of the last pass: when it changes, every object's backup is checked."""
        self._replicate_task: asyncio.Task[None] | None = None
        self._unacked: dict[int, dict[bytes, int]] = {}
        """map id → key → UPDATEs with its object not yet acknowledged (or failed)."""
        self._sync_batches: dict[tuple[int, int], SyncBatch] = {}
        """(map id, backup) → synchronous sends not yet on their way (``_send_sync``)."""
        for ms in self.maps.values():
            if self.replicates(ms):
                self._sent[ms.map_id] = {}
                self._dirty[ms.map_id] = set()
                self._stale[ms.map_id] = StaleCopies()
                self._unacked[ms.map_id] = {}
                ms.sync_replica = self.sync(ms) or not persistent(ms.storage)
                if isinstance(ms.storage, EbpfStorage):
                    ms.storage.track_changes()
                    self._sweeps[ms.map_id] = MapSweep(ms.storage, config.replicate_sweep,
                                                       config.replicate_sweep_s)

    def replicates(self, ms: MapState) -> bool:
        return self.config.replicas is not Replicas.OFF and isinstance(
            ms.storage, (EbpfStorage, PyStorage))

    def sync(self, ms: MapState) -> bool:
        return self.config.replicas is Replicas.SYNC or (
            self.config.replicas is Replicas.DECLARED
            and ms.decl.replication in (Replication.SYNC, Replication.SYNC_FIRST))

    def sync_first(self, ms: MapState) -> bool:
        """Only an object's first copy at its backup is sent synchronously (``SYNC_FIRST``)."""
        return (self.config.replicas is Replicas.DECLARED
                and ms.decl.replication is Replication.SYNC_FIRST)

    def ring(self) -> BackupRing:
        if self._ring is None or self._ring.key_space is not self.key_space:
            self._ring = BackupRing(self.key_space)
        return self._ring

    def sweep_passes(self) -> int:
        """Passes the last whole sweep of the largest eBPF-backed map took: how many passes
        a kernel update can wait for before it is sent."""
        return max((s.last_passes for s in self._sweeps.values()), default=0)

    def start_replicating(self) -> None:
        if self._sent and self._replicate_task is None:
            self._replicate_task = self.spawn(self._replicate_forever(), "replicate")

    async def _replicate_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.replicate_interval_s)
            self.replicate_pass()

    def replicate_pass(self) -> None:
        """Send every replicated map's changes since the last pass to the backups."""
        ring = self.ring()
        moved = ring is not self._passed_ring
        self._passed_ring = ring
        for ms in self.maps.values():
            sent = self._sent.get(ms.map_id)
            if sent is not None:
                self._replicate_map(ms, sent, ring, moved)

    def _replicate_map(self, ms: MapState, sent: dict[bytes, tuple[int, bytes]],
                       ring: BackupRing, moved: bool) -> None:
        """Send ``ms``'s changes; ``moved``: the ring changed, so every object held is checked
        (a backup recorded in ``sent`` is otherwise the current ring's). A copy whose backup
        changed is deleted at the old one only once the new one has it (``stale_copies``). An
        object inside an access block waits for the next pass: the block may still be filling
        it (a new NAT entry is blank until its install ends), and a kill would promote that."""
        storage = ms.storage
        stale = self._stale[ms.map_id]
        dirty = self._dirty[ms.map_id]
        self._dirty[ms.map_id] = set()
        if isinstance(storage, EbpfStorage):
            current, gone = self._ebpf_changes(ms, storage, sent, dirty, moved)
        else:
            keys = set(storage.snapshot()) if moved else dirty
            current = {k: d for k in keys | dirty if (d := object_bytes(storage, k)) is not None}
            gone = [k for k in sent if storage.get(k) is None and k not in ms.pushing]
        orphans = [k for k in stale.pending()
                   if k not in sent and k not in current and k not in ms.pushing
                   and object_bytes(storage, k) is None]
        out: dict[int, Entries] = {}
        me, alive = self.me, self.key_space.instances
        pins, later = ms.pins, self._dirty[ms.map_id]
        for key, data in current.items():
            if key in pins:
                later.add(key)
                continue
            prev = sent.get(key)
            if prev is not None and not moved:
                if prev[1] == data:
                    continue
                target: int | None = prev[0]
            else:
                target = ring.backup_of(me, key)
                if prev is not None:
                    if prev[0] == target and prev[1] == data:
                        continue
                    if prev[0] != target:
                        stale.add(key, prev[0])
            if target is None:
                sent.pop(key, None)
                for old in stale.take(key, None, alive):
                    out.setdefault(old, []).append((key, b""))
                continue
            out.setdefault(target, []).append((key, data))
            sent[key] = (target, data)
        for key in gone:
            gone_prev = sent.pop(key, None)
            if gone_prev is None:
                continue
            for old in stale.take(key, gone_prev[0], alive):
                out.setdefault(old, []).append((key, b""))
            out.setdefault(gone_prev[0], []).append((key, b""))
        for key in orphans:
            for old in stale.take(key, None, alive):
                out.setdefault(old, []).append((key, b""))
        for target, entries in out.items():
            for start in range(0, len(entries), BATCH):
                self.spawn(self._send(ms, target, entries[start:start + BATCH]), "replica-send")

    def _ebpf_changes(self, ms: MapState, storage: EbpfStorage[Any],
                      sent: dict[bytes, tuple[int, bytes]], dirty: set[bytes],
                      moved: bool) -> tuple[dict[bytes, bytes], list[bytes]]:
        """(key → bytes to compare with what was sent, keys whose copies to delete) of an
        eBPF-backed map: the keys the agent changed, and the sweep's next slice (the whole
        map when ``moved``). An object on its way to another instance (``pushing``) keeps its
        copy until the push is acknowledged: its key is looked at again by the next pass."""
        sweep = self._sweeps[ms.map_id]
        changed = dirty | storage.take_changes()
        seen: set[bytes] | None
        now = time.monotonic()
        if moved:
            current = all_bytes(storage)
            sweep.restart(now)
            seen = set(current)
        else:
            current, seen = sweep.next_slice(now)
            if seen is not None:
                self.replica_counters.sweeps += 1
        self.replica_counters.swept += len(current)
        pushing = ms.pushing
        gone: list[bytes] = []
        for key in changed:
            if key in current:
                continue
            data = object_bytes(storage, key)
            if data is not None:
                current[key] = data
            elif key in pushing:
                self._dirty[ms.map_id].add(key)
            elif key in sent:
                gone.append(key)
        if seen is not None:
            for key in sent.keys() - seen - changed:
                if key not in pushing and object_bytes(storage, key) is None:
                    gone.append(key)
        return current, gone

    def _send(self, ms: MapState, target: int, entries: Entries) -> Coroutine[Any, Any, bool]:
        """One UPDATE to ``target``; on failure the entries are forgotten as sent, so the next
        pass sends them again (to whatever their backup is by then). Once ``target`` has a
        key's current copy, the copies it replaces elsewhere are deleted. The entries count
        as unacknowledged from this call on, not from when the returned coroutine starts (a
        task begins a turn of the event loop later)."""
        unacked = self._unacked[ms.map_id]
        for key, _ in entries:
            unacked[key] = unacked.get(key, 0) + 1
        return self._send_counted(ms, target, entries)

    async def _send_counted(self, ms: MapState, target: int, entries: Entries) -> bool:
        unacked = self._unacked[ms.map_id]
        deletes = sum(1 for _, d in entries if not d)
        try:
            return await self._send_tracked(ms, target, entries, deletes)
        finally:
            for key, _ in entries:
                left = unacked[key] - 1
                if left:
                    unacked[key] = left
                else:
                    del unacked[key]

    async def _send_tracked(self, ms: MapState, target: int, entries: Entries,
                            deletes: int) -> bool:
        try:
            reply = await asyncio.wait_for(
                self.request(target, Kind.REPLICA, ReplicaOp.UPDATE, ms.map_id, 0, b"",
                             encode_entries(entries)),
                self.config.replica_timeout_s)
            self.check(reply, f"replicate {len(entries)} {ms.decl.name} objects to {target}")
        except (DsoError, TimeoutError) as exc:
            self.replica_counters.batches_failed += 1
            if self.replica_counters.batches_failed % 100 == 1:
                log.warning("agent %d: replication to %d failed (%s); sending again later",
                            self.me, target, exc)
            sent = self._sent[ms.map_id]
            dirty = self._dirty[ms.map_id]
            stale = self._stale[ms.map_id]
            for key, data in entries:
                if sent.get(key) == (target, data):
                    del sent[key]
                if not data or key not in sent:
                    stale.add(key, target)
                dirty.add(key)
            return False
        self.replica_counters.copies_sent += len(entries) - deletes
        self.replica_counters.deletes_sent += deletes
        if deletes < len(entries):
            self._drop_replaced(ms, target, entries)
        return True

    def _drop_replaced(self, ms: MapState, target: int, entries: Entries) -> None:
        """``target`` acknowledged these copies: delete the ones they replace."""
        sent, stale = self._sent[ms.map_id], self._stale[ms.map_id]
        if not stale:
            return
        alive = self.key_space.instances
        out: dict[int, Entries] = {}
        for key, data in entries:
            if data and key in stale and sent.get(key, (None,))[0] == target:
                for old in stale.take(key, target, alive):
                    out.setdefault(old, []).append((key, b""))
        for old, deletes in out.items():
            self.spawn(self._send(ms, old, deletes), "replica-send")

    def resend_to(self, peer: int) -> None:
        """``peer`` restarted and lost the copies it kept: send them again."""
        for map_id, sent in self._sent.items():
            for key in [k for k, (t, _) in sent.items() if t == peer]:
                del sent[key]
                self._dirty[map_id].add(key)
        self.replicate_pass()

    async def resend_all(self) -> int:
        """Send every held object to its backup again and wait for the acknowledgements;
        returns how many were sent (what a full pass costs: the replication bench)."""
        count = 0
        self._passed_ring = None
        for map_id, sent in self._sent.items():
            sent.clear()
            storage = self.maps[map_id].storage
            self._dirty[map_id].update(storage.snapshot())
            count += len(storage)
        await self.flush_replicas()
        return count

    async def replicate_now(self, ms: MapState, key: bytes, held: bool = False) -> None:
        """Synchronous maps: send ``key``'s object and wait for the backup's acknowledgement
        (at most ``replica_timeout_s``); other maps: mark it for the next pass. ``held``: the
        object was held here before the access that changed it; a ``SYNC_FIRST`` map's
        object then waits only if its backup has no acknowledged copy of it yet (and after
        a key-space change, until a pass has checked every object's backup).

        Every synchronous send keeps the access's flow from leaving the slow path for the
        round trip: its packets are punted meanwhile. At 100 kpps a scale event left both
        agents' event loops a second behind, so each access of a moved flow waited that
        long and the flows' packets were punted all along: twice as many punts as with
        asynchronous replication, until the scale event timed out."""
        sent = self._sent.get(ms.map_id)
        if sent is None:
            return
        if not self.sync(ms):
            self._dirty[ms.map_id].add(key)
            return
        ring = self.ring()
        target = ring.backup_of(self.me, key)
        prev = sent.get(key)
        if (held and prev is not None and prev[0] == target and self.sync_first(ms)
                and ring is self._passed_ring and key not in self._unacked[ms.map_id]):
            self._dirty[ms.map_id].add(key)
            return
        data = object_bytes(ms.storage, key)
        if data is None or target is None:
            return
        sent[key] = (target, data)
        if prev is not None and prev[0] != target:
            self._stale[ms.map_id].add(key, prev[0])
        self.replica_counters.sync_sends += 1
        if not await asyncio.shield(self._send_sync(ms, target, key, data)):
            self.replica_counters.sync_failures += 1

    def _send_sync(self, ms: MapState, target: int, key: bytes,
                   data: bytes) -> asyncio.Future[bool]:
        """Send ``key``'s object to ``target`` in one UPDATE with every other synchronous send
        to it made in this turn of the event loop; the future tells whether it was
        acknowledged. When a scale event moves the active flows, thousands of access blocks
        end together, and one request each cost a task, a timeout and a reply at both ends
        (batched, the sends that timed out in a 100 kpps scale event fell from 466 and 484
        to 127 and 1: docs/bench.md)."""
        slot = (ms.map_id, target)
        batch = self._sync_batches.get(slot)
        if batch is None:
            loop = asyncio.get_running_loop()
            batch = self._sync_batches[slot] = SyncBatch({}, loop.create_future())
            loop.call_soon(self._flush_sync, ms, slot)
        batch.entries[key] = data
        return batch.sent

    def _flush_sync(self, ms: MapState, slot: tuple[int, int]) -> None:
        batch = self._sync_batches.pop(slot)
        self.spawn(self._send_sync_batch(ms, slot[1], batch), "replica-sync-send")

    async def _send_sync_batch(self, ms: MapState, target: int, batch: SyncBatch) -> None:
        entries = list(batch.entries.items())
        ok = False
        try:
            results = await asyncio.gather(*(
                self._send(ms, target, entries[start:start + BATCH])
                for start in range(0, len(entries), BATCH)))
            ok = all(results)
        finally:
            if not batch.sent.done():
                batch.sent.set_result(ok)

    async def flush_replicas(self) -> None:
        """Send every change now and wait for the acknowledgements (e.g. deletions that must
        reach the backups before something that depends on them, like a freed port)."""
        before = set(self._tasks)
        self.replicate_pass()
        sends = [t for t in self._tasks - before if t.get_name() == "replica-send"]
        if sends:
            await asyncio.wait(sends)

    def on_replica(self, link: Link, msg: Message, ms: MapState) -> None:
        origin = link.peer
        if origin is None:
            self.fail(link, msg, Status.MALFORMED, "replica message before HELLO")
            return
        if msg.status == ReplicaOp.UPDATE:
            try:
                entries = decode_entries(msg.body)
            except MalformedFrame as exc:
                self.fail(link, msg, Status.MALFORMED, f"replica body: {exc}")
                return
            copies = self.backups.setdefault(origin, {}).setdefault(ms.map_id, {})
            directory, home_of, me = ms.directory, self.home_of, self.me
            for key, data in entries:
                if data:
                    copies[key] = data
                elif directory.get(key) != origin or home_of(key) != me:
                    copies.pop(key, None)
            self.replica_counters.copies_received += len(entries)
            self.reply(link, msg, Status.OK)
        elif msg.status == ReplicaOp.RECOVER:
            mine = self.backups.get(origin, {}).get(ms.map_id, {})
            self.reply(link, msg, Status.OK, encode_entries(list(mine.items())))
        elif msg.status == ReplicaOp.HOMED:
            held = [(k, b"") for k in ms.storage.snapshot() if self.home_of(k) == origin]
            self.reply(link, msg, Status.OK, encode_entries(held))
        else:
            self.fail(link, msg, Status.MALFORMED, f"unknown replica operation {msg.status}")

    def promoted_copies(self, ms: MapState) -> set[bytes]:
        return self.copies_to_push.setdefault(ms.map_id, set())

    def on_push(self, link: Link, msg: Message, ms: MapState) -> None:
        """Pushed objects replace copies promoted from a backup here (the pusher held the
        live one), unless they are promoted copies themselves (``Flag.COPY``): then the
        receiver keeps what it holds, and drops those its directory says a live instance
        holds (the home knows; the promoter did not). The copy kept at the dead holder's
        latest backup is the newest: a holder deletes a replaced copy only after the new
        backup acknowledged, so an older one may survive elsewhere.

        They are stored at once, as without backups (a pull racing the push must find them
        here), and sent to their backup; the push is acknowledged once the backup has them,
        because the pusher then deletes its own copies: acknowledged earlier, a receiver that
        died before its backup had them took the only copy with it."""
        promoted = self.promoted.get(ms.map_id)
        if not promoted and ms.map_id not in self._sent:
            super().on_push(link, msg, ms)
            return
        try:
            entries = decode_entries(msg.body)
        except MalformedFrame:
            super().on_push(link, msg, ms)
            return
        copy = bool(msg.status & Flag.COPY)
        if copy:
            entries = [(k, d) for k, d in entries if not self._held_elsewhere(ms, k)]
        for key, _ in entries:
            if promoted and key in promoted:
                promoted.discard(key)
                ms.storage.delete(key)
        arrivals = [(k, d) for k, d in entries if ms.storage.get(k) is None]
        if not self.accept_push(link, msg, ms, entries):
            return
        if ms.map_id not in self._sent or not arrivals:
            self.reply(link, msg, Status.OK)
            return
        self._replicate_arrivals(link, msg, ms, arrivals)

    def _held_elsewhere(self, ms: MapState, key: bytes) -> bool:
        """Held here, or by a live instance this home's directory names."""
        owner = ms.directory.get(key)
        return ms.storage.get(key) is not None or (
            owner is not None and owner != self.me and owner not in self.fenced)

    def _replicate_arrivals(self, link: Link, msg: Message, ms: MapState,
                            entries: Entries) -> None:
        """Send pushed objects to their backup, then acknowledge the push (whether or not
        the backup answered: a dead backup must not hold the migration up; ``_send`` gives
        up after ``replica_timeout_s``). The sends count as unacknowledged at once: an
        access to a pushed object must wait for its copy (``SYNC_FIRST``)."""
        ring, sent, stale = self.ring(), self._sent[ms.map_id], self._stale[ms.map_id]
        by_backup: dict[int, Entries] = {}
        for key, data in entries:
            target = ring.backup_of(self.me, key)
            if target is not None:
                by_backup.setdefault(target, []).append((key, data))
                prev = sent.get(key)
                if prev is not None and prev[0] != target:
                    stale.add(key, prev[0])
                sent[key] = (target, data)
        sends = [self._send(ms, t, e) for t, e in by_backup.items()]
        self.spawn(self._reply_after(link, msg, sends), "replica-push")

    async def _reply_after(self, link: Link, msg: Message,
                           sends: list[Coroutine[Any, Any, bool]]) -> None:
        if sends:
            await asyncio.gather(*sends)
        self.reply(link, msg, Status.OK)

    def copy_granted(self, ms: MapState, key: bytes, requester: int, data: bytes) -> None:
        """At the home, as it grants ``key``'s object to ``requester``: the home is the
        backup of an object held away from it, so it keeps the granted bytes as that copy
        now. Until the requester's own copy arrived (when its access block ends, or by its
        next pass) the object was nowhere else: the previous holder's copy went with the
        hand-over, so a requester that died in between lost it."""
        if ms.map_id in self._sent and data and requester not in self.fenced:
            self.backups.setdefault(requester, {}).setdefault(ms.map_id, {})[key] = data

    def keep_given(self, ms: MapState, key: bytes, asker: int, data: bytes) -> None:
        """A home pulled ``key``'s object from here to hold it: until its own backup has a
        copy, the object would be nowhere else, so the bytes given stay here as its copy (the
        home deletes it once its backup acknowledged, ``pulled_from``)."""
        if ms.map_id in self._sent and asker not in self.fenced:
            self.backups.setdefault(asker, {}).setdefault(ms.map_id, {})[key] = data

    def pulled_from(self, ms: MapState, key: bytes, giver: int) -> None:
        """``giver`` keeps a copy of the object pulled from it (``keep_given``): an outdated
        one once this agent's backup has the object, so deleted then (``stale_copies``)."""
        if ms.map_id in self._sent:
            self._stale[ms.map_id].add(key, giver)
            self._dirty[ms.map_id].add(key)

    def drop_copy(self, ms: MapState, key: bytes, holder: int | None) -> None:
        """``holder`` handed ``key``'s object over: the copy of it kept here is outdated
        (None: the object was removed, every copy of it is)."""
        for origin, maps in self.backups.items():
            if holder is None or origin == holder:
                copies = maps.get(ms.map_id)
                if copies is not None:
                    copies.pop(key, None)

    def mw_submit(self, ms: MapState, key: bytes, spec: MethodSpec, args: Any, done: Done,
                  origin: Origin = None) -> None:
        if ms.map_id in self._sent:
            done = self._replicated(ms, key, done)
        super().mw_submit(ms, key, spec, args, done, origin)

    def _replicated(self, ms: MapState, key: bytes, done: Done) -> Done:
        """``done`` once the call's change is on its way to (sync: at) the backup."""
        def after(result: Any, error: BaseException | None) -> None:
            if not self.sync(ms):
                self._dirty[ms.map_id].add(key)
                done(result, error)
                return
            self.spawn(self._then(self.replicate_now(ms, key), lambda: done(result, error)),
                       "replica-sync")

        return after

    @staticmethod
    async def _then(first: Any, then: Callable[[], None]) -> None:
        with contextlib.suppress(DsoError):
            await first
        then()

    async def _call_here(self, ms: MapState, key: bytes, spec: MethodSpec, args: Any) -> Any:
        result = await super()._call_here(ms, key, spec, args)
        if ms.map_id in self._sent:
            await self.replicate_now(ms, key)
        return result
