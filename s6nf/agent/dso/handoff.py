"""Handing a bucket's flows over between steering targets at a scale event.

Steering and homes follow one key space, so a switch that moves bucket b from instance P to
instance N moves b's packets to N while packets of b's flows that P punted before may still
wait in P's slow path. A later packet of such a flow at N must not leave first: neither by
N's slow path (it would fetch the flow's entry and send the packet on) nor by N's fast path
(an entry N holds, or that migrates to it, turns ready when N's own punt state is settled,
which says nothing of P's queue). So N *holds* b from ``prepare`` on, until P says its queue
for b is empty:

- N's kernel turns no entry of b's flows ready (``HandoffListener.hold``: the punt path's
  ``hold_buckets`` map), so their packets go to N's slow path;
- N's slow path starts no work on b's flows (``handoff_wait``);
- at the switch, N sends P one SETTLE request naming every bucket it takes from P; P moves
  what its punt ring holds into its micro-threads (``HandoffListener.drain``) and answers once
  the work queued then for flows of those buckets has run, and the one-way calls that work
  made have been handled (a sync: P may be leaving, and its own ``wait_drained`` may be over);
  N then releases them.

Established flows of buckets that do not move never notice; a moved flow's packets wait in
N's slow path for at most P's backlog of that bucket. An agent counts buckets still held as
in flight (``wait_drained``), so P stays until it has answered.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Awaitable, Collection
from typing import Protocol

from s6nf.agent.dso.config import Mode
from s6nf.agent.dso.errors import CallTimeout, DsoError
from s6nf.agent.dso.microthreads import KeyedExecutor
from s6nf.agent.dso.sync import SyncMixin
from s6nf.agent.dso.transport import Link
from s6nf.agent.dso.wire import Kind, Message, Status
from s6nf.keys import bucket_of_bytes
from s6nf.keyspace import KeySpace

log = logging.getLogger(__name__)

_BUCKET = struct.Struct("!I")


class HandoffListener(Protocol):
    """The slow path's side of a handoff (``nfs/slowpath.py``)."""

    def drain(self) -> object:
        """Move punted packets waiting outside the micro-threads into them."""

    def hold(self, buckets: frozenset[int], of: int) -> None:
        """From now on the entries of flows in ``buckets`` (of a key space of ``of``
        buckets), and only those, must not turn ready."""


class HandoffMixin(SyncMixin):
    micro: KeyedExecutor
    handoff_listener: HandoffListener | None = None
    _held: dict[int, int] | None = None
    """Bucket → its previous steering target, for buckets moving here and not yet released."""
    _handed: dict[int, asyncio.Future[None]] | None = None
    """Previous target → done when it has answered for every bucket it hands over."""

    def hold_incoming(self, nxt: KeySpace) -> None:
        """At prepare: hold every bucket that ``nxt`` moves to this agent."""
        if self.config.mode is Mode.LOCAL_ONLY:
            return
        current = self.key_space.owners
        me = self.me
        held = {b: current[b] for b, owner in enumerate(nxt.owners)
                if owner == me and current[b] != me}
        loop = asyncio.get_running_loop()
        self._held = held
        self._handed = {prev: loop.create_future() for prev in set(held.values())}
        self._tell_listener()

    def start_handoff(self) -> None:
        """At the switch: ask every previous target to settle the buckets it hands over."""
        held, handed = self._held, self._handed
        if not held or handed is None:
            return
        by_prev: dict[int, list[int]] = {}
        for bucket, prev in held.items():
            by_prev.setdefault(prev, []).append(bucket)
        for prev, buckets in by_prev.items():
            self.spawn(self._settle_from(prev, buckets, handed[prev]), "settle-from")

    async def _settle_from(self, prev: int, buckets: list[int],
                           done: asyncio.Future[None]) -> None:
        body = b"".join(_BUCKET.pack(b) for b in buckets)
        try:
            while True:
                try:
                    self.check(await self.request(prev, Kind.SETTLE, 0, 0, 0, b"", body),
                               f"settle {len(buckets)} buckets with instance {prev}")
                    break
                except CallTimeout:
                    if prev in self.fenced:
                        break
                    continue
                except DsoError as exc:
                    log.warning("agent %d: instance %d did not settle %d buckets handed over "
                                "(%s); releasing them, a packet queued there may be overtaken",
                                self.me, prev, len(buckets), exc)
                    break
        finally:
            held = self._held
            if held is not None:
                for bucket in buckets:
                    held.pop(bucket, None)
            self._tell_listener()
            if not done.done():
                done.set_result(None)

    def release_handoff(self, dead: Collection[int]) -> None:
        """Release the buckets held for previous targets declared ``dead``: nobody is left
        to settle them, and their queues died with them."""
        held, handed = self._held, self._handed
        if not held or handed is None:
            return
        for bucket, prev in list(held.items()):
            if prev in dead:
                del held[bucket]
        for prev in dead:
            done = handed.get(prev)
            if done is not None and not done.done():
                done.set_result(None)
        self._tell_listener()

    def set_handoff_listener(self, listener: HandoffListener) -> None:
        """The slow path that takes this agent's punted packets; it hears the buckets held
        now at once."""
        self.handoff_listener = listener
        self._tell_listener()

    def _tell_listener(self) -> None:
        if self.handoff_listener is not None:
            self.handoff_listener.hold(frozenset(self._held or ()), self.key_space.buckets)

    def handoff_wait(self, key: bytes) -> Awaitable[object] | None:
        """None if work on ``key``'s flow may start now; else what to await first."""
        held = self._held
        if not held or self._handed is None:
            return None
        prev = held.get(bucket_of_bytes(key, self.key_space.buckets))
        if prev is None:
            return None
        return asyncio.shield(self._handed[prev])

    def held_buckets(self) -> int:
        """Buckets moving here whose previous target has not settled them yet."""
        return len(self._held or ())

    async def serve_settle(self, link: Link, msg: Message) -> None:
        """As a previous target: answer once no work queued now is left for these buckets."""
        if len(msg.body) % _BUCKET.size:
            self.fail(link, msg, Status.MALFORMED,
                      f"a SETTLE body is u32 buckets, got {len(msg.body)} bytes")
            return
        buckets = {b for (b,) in _BUCKET.iter_unpack(msg.body)}
        if self.handoff_listener is not None:
            self.handoff_listener.drain()
        n = self.key_space.buckets
        keys = [k for k in self.micro.busy_keys()
                if isinstance(k, bytes) and bucket_of_bytes(k, n) in buckets]
        await self.micro.finished(keys)
        await self.sync_links(deep=False)
        self.reply(link, msg, Status.OK)
