"""Backups: every object an agent holds has a copy at a second instance (docs/failover.md).

The holder sends its objects to their backup (``BackupRing``): maps kept in an eBPF map are
compared, whole, with what was last sent every ``replicate_interval_s`` (the kernel changes
their counters in place, so there is nothing to hook), other maps send the objects marked
dirty by an access or a MultiWriter call since. Objects of a map marked synchronous are sent
before the access block or the call returns, and wait for the backup's acknowledgement. A
backup keeps the copies per origin and does nothing with them until the controller declares
the origin dead (``takeover``).

Messages are ``Kind.REPLICA`` with a ``ReplicaOp`` in the status byte; their bodies are PUSH
entries (an empty object means "deleted").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from s6nf.agent.dso.config import AgentConfig, Replicas
from s6nf.agent.dso.ebpf_storage import EbpfStorage
from s6nf.agent.dso.errors import DsoError
from s6nf.agent.dso.maps import MethodSpec, Replication, Schema
from s6nf.agent.dso.migration import MigrationMixin
from s6nf.agent.dso.multiwriter import Done, MultiWriterMixin, Origin
from s6nf.agent.dso.state import MapState
from s6nf.agent.dso.storage import PyStorage
from s6nf.agent.dso.transport import Link
from s6nf.agent.dso.wire import (
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


class ReplicaMixin(MultiWriterMixin, MigrationMixin):
    def __init__(self, config: AgentConfig, schema: Schema, key_space: KeySpace) -> None:
        super().__init__(config, schema, key_space)
        self.replica_counters = ReplicaCounters()
        self.backups: dict[int, dict[int, dict[bytes, bytes]]] = {}
        """origin instance → map id → key → the origin's object bytes."""
        self._sent: dict[int, dict[bytes, tuple[int, bytes]]] = {}
        """map id → key → (backup, bytes) last sent (cleared again if the send failed)."""
        self._dirty: dict[int, set[bytes]] = {}
        self.promoted: dict[int, set[bytes]] = {}
        """map id → keys taken over from a dead instance's backup since the last failover."""
        self._ring: BackupRing | None = None
        self._passed_ring: BackupRing | None = None
        """The ring of the last pass: when it changes, every object's backup is checked."""
        self._replicate_task: asyncio.Task[None] | None = None
        for ms in self.maps.values():
            if self.replicates(ms):
                self._sent[ms.map_id] = {}
                self._dirty[ms.map_id] = set()
                ms.sync_replica = self.sync(ms) or not persistent(ms.storage)

    def replicates(self, ms: MapState) -> bool:
        return self.config.replicas is not Replicas.OFF and isinstance(
            ms.storage, (EbpfStorage, PyStorage))

    def sync(self, ms: MapState) -> bool:
        return self.config.replicas is Replicas.SYNC or (
            self.config.replicas is Replicas.DECLARED
            and ms.decl.replication is Replication.SYNC)

    def ring(self) -> BackupRing:
        if self._ring is None or self._ring.key_space is not self.key_space:
            self._ring = BackupRing(self.key_space)
        return self._ring

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
        storage = ms.storage
        if isinstance(storage, EbpfStorage):
            current = all_bytes(storage)
            gone = [k for k in sent if k not in current and k not in ms.pushing]
        else:
            dirty = self._dirty[ms.map_id]
            keys = set(storage.snapshot()) if moved else dirty
            self._dirty[ms.map_id] = set()
            current = {k: d for k in keys | dirty if (d := object_bytes(storage, k)) is not None}
            gone = [k for k in sent if storage.get(k) is None and k not in ms.pushing]
        out: dict[int, Entries] = {}
        me = self.me
        for key, data in current.items():
            target = ring.backup_of(me, key)
            prev = sent.get(key)
            if prev is not None:
                if prev[0] == target and prev[1] == data:
                    continue
                if prev[0] != target:
                    out.setdefault(prev[0], []).append((key, b""))
            if target is None:
                sent.pop(key, None)
                continue
            out.setdefault(target, []).append((key, data))
            sent[key] = (target, data)
        for key in gone:
            prev = sent.pop(key)
            out.setdefault(prev[0], []).append((key, b""))
        for target, entries in out.items():
            for start in range(0, len(entries), BATCH):
                self.spawn(self._send(ms, target, entries[start:start + BATCH]), "replica-send")

    async def _send(self, ms: MapState, target: int, entries: Entries) -> bool:
        """One UPDATE to ``target``; on failure the entries are forgotten as sent, so the next
        pass sends them again (to whatever their backup is by then)."""
        deletes = sum(1 for _, d in entries if not d)
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
            for key, data in entries:
                if sent.get(key) == (target, data):
                    del sent[key]
                dirty.add(key)
            return False
        self.replica_counters.copies_sent += len(entries) - deletes
        self.replica_counters.deletes_sent += deletes
        return True

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
        for map_id, sent in self._sent.items():
            sent.clear()
            storage = self.maps[map_id].storage
            self._dirty[map_id].update(storage.snapshot())
            count += len(storage)
        await self.flush_replicas()
        return count

    async def replicate_now(self, ms: MapState, key: bytes) -> None:
        """Synchronous maps: send ``key``'s object and wait for the backup's acknowledgement
        (at most ``replica_timeout_s``); other maps: mark it for the next pass."""
        sent = self._sent.get(ms.map_id)
        if sent is None:
            return
        if not self.sync(ms):
            self._dirty[ms.map_id].add(key)
            return
        data = object_bytes(ms.storage, key)
        target = self.ring().backup_of(self.me, key)
        if data is None or target is None:
            return
        prev = sent.get(key)
        sent[key] = (target, data)
        if prev is not None and prev[0] != target:
            self.spawn(self._send(ms, prev[0], [(key, b"")]), "replica-send")
        self.replica_counters.sync_sends += 1
        if not await self._send(ms, target, [(key, data)]):
            self.replica_counters.sync_failures += 1

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
            for key, data in entries:
                if data:
                    copies[key] = data
                else:
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

    def on_push(self, link: Link, msg: Message, ms: MapState) -> None:
        """Pushed objects replace copies promoted from a backup here (the pusher held the
        live one). They are stored at once, as without backups (a pull racing the push must
        find them here), and sent to their backup right away for a synchronous map, else by
        the next pass; the pusher's backup keeps its copy until the push is acknowledged."""
        promoted = self.promoted.get(ms.map_id)
        if not promoted and ms.map_id not in self._sent:
            super().on_push(link, msg, ms)
            return
        try:
            entries = decode_entries(msg.body)
        except MalformedFrame:
            super().on_push(link, msg, ms)
            return
        for key, _ in entries:
            if promoted and key in promoted:
                promoted.discard(key)
                ms.storage.delete(key)
        arrivals = [(k, d) for k, d in entries if ms.storage.get(k) is None]
        super().on_push(link, msg, ms)
        if ms.map_id not in self._sent:
            return
        self._dirty[ms.map_id].update(k for k, _ in arrivals)
        if self.sync(ms) and arrivals:
            self.spawn(self._replicate_arrivals(ms, arrivals), "replica-push")

    async def _replicate_arrivals(self, ms: MapState, entries: Entries) -> None:
        ring, sent = self.ring(), self._sent[ms.map_id]
        by_backup: dict[int, Entries] = {}
        for key, data in entries:
            target = ring.backup_of(self.me, key)
            if target is not None:
                by_backup.setdefault(target, []).append((key, data))
                sent[key] = (target, data)
        if by_backup:
            await asyncio.gather(*(self._send(ms, t, e) for t, e in by_backup.items()))

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
