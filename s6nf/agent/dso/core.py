"""The agent's core: key spaces, requests and replies on the state channel, dispatch.

The SingleWriter, MultiWriter and migration logic live in mixins over this class
(``singlewriter``, ``multiwriter``, ``migration``); ``agent.DsoAgent`` puts them together.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from zlib import crc32

from s6nf.agent.dso.config import AgentConfig, Mode
from s6nf.agent.dso.errors import CallTimeout, DsoError, PeerLost, RemoteError
from s6nf.agent.dso.maps import Schema
from s6nf.agent.dso.state import MapState
from s6nf.agent.dso.transport import Link, StateChannel
from s6nf.agent.dso.wire import (
    Kind,
    MalformedFrame,
    Message,
    Status,
    decode_frame,
    encode_message,
    first_req_ids,
)
from s6nf.keys import bucket_of_bytes
from s6nf.keyspace import KeySpace
from s6nf.metrics import Histogram

log = logging.getLogger(__name__)

OnReply = Callable[[Message], None]
HOLDING: ContextVar[int] = ContextVar("s6nf_dso_holding", default=0)
"""SingleWriter objects the current task holds (inside ``access`` blocks)."""


@dataclass
class Counters:
    """What an agent did; tests and benchmarks read these."""

    acquires_sent: int = 0
    coalesced: int = 0
    fetches_sent: int = 0
    calls_sent: int = 0
    casts_sent: int = 0
    casts_local: int = 0
    """Casts whose home was this agent (applied here, nothing sent)."""
    calls_applied: int = 0
    casts_applied: int = 0
    forwarded: int = 0
    pushed: int = 0
    received_pushes: int = 0
    bad_frames: int = 0
    errors_answered: int = 0
    casts_lost: int = 0
    pulled: int = 0
    """Objects this home pulled from their previous home after a switch (migration)."""


class AgentCore:
    def __init__(self, config: AgentConfig, schema: Schema, key_space: KeySpace) -> None:
        self.config = config
        self.me = config.instance
        self.schema = schema
        self.maps: dict[int, MapState] = {
            map_id: MapState(decl, decl.make_storage()) for map_id, decl in schema.maps.items()
        }
        self._owners: tuple[int, ...] = ()
        self._mask = 0
        self.key_space = key_space
        self.previous: KeySpace | None = None
        """The key space before the current one, until the controller retires it."""
        self.next: KeySpace | None = None
        self.counters = Counters()
        self.request_latency = Histogram("kind")
        """Round trips of requests to peers (acquire, fetch, push, call), by kind."""
        self.channel = StateChannel(
            self.me, self, config.flush_interval_s, config.max_batch, config.max_buffered,
            tls=config.tls,
        )
        self._pending: dict[int, tuple[Link, asyncio.Future[Message], OnReply | None]] = {}
        self._ids = itertools.count(1)
        self._open_requests: dict[int, int] = {}
        """Epoch a request was sent in → requests of it waiting for their reply."""
        self._tasks: set[asyncio.Task[Any]] = set()
        self._resumed = asyncio.Event()
        self._resumed.set()
        self.fenced: set[int] = set()
        """Instances the controller declared dead: never asked for anything again."""
        self.takeovers_ended = 0
        """Failovers this agent has taken part in to their end (``end_takeover``)."""
        self._takeover_ended = asyncio.Event()

    @property
    def key_space(self) -> KeySpace:
        return self._key_space

    @key_space.setter
    def key_space(self, ks: KeySpace) -> None:
        self._key_space = ks
        self.epoch = ks.epoch
        self._mask = ks.buckets - 1
        self.member = self.config.mode is Mode.LOCAL_ONLY or self.me in ks.instances
        """False on an instance the key space leaves out: it must end empty."""
        self._owners = (
            tuple(self.me for _ in ks.owners) if self.config.mode is Mode.LOCAL_ONLY else ks.owners
        )

    async def retry_after_failover(self, exc: DsoError, since: int) -> bool:
        """Whether a request that failed with ``exc`` should be made again: its peer vanished
        (``PeerLost`` here, or ``UNREACHABLE`` from a peer that asked it on our behalf) and a
        failover ended after ``takeovers_ended`` was ``since`` (``after_failover``). A task
        that holds an object the takeover here must push to its new home waits in vain: the
        takeover waits for the object; the call timeout ends the wait, and the call fails as
        it did at once before."""
        vanished = isinstance(exc, PeerLost) or (
            isinstance(exc, RemoteError) and exc.status == Status.UNREACHABLE)
        return vanished and await self.after_failover(since, self.config.call_timeout_s)

    async def after_failover(self, since: int, timeout_s: float) -> bool:
        """Whether a failover ended after ``takeovers_ended`` was ``since``, waiting at most
        ``timeout_s`` for one: a peer that vanished in the middle of a request is either
        declared dead (its objects are then at their backups) or not, and then the request
        fails as before."""
        if self.takeovers_ended > since:
            return True
        try:
            await asyncio.wait_for(asyncio.shield(self._takeover_ended.wait()), timeout_s)
        except TimeoutError:
            return False
        return True

    def _ended_takeover(self) -> None:
        self.takeovers_ended += 1
        ended, self._takeover_ended = self._takeover_ended, asyncio.Event()
        ended.set()

    @property
    def paused(self) -> bool:
        """A stop-and-copy pause holds new accesses and calls. A task that already holds an
        object goes on: the copy waits for what it holds, so pausing it would deadlock."""
        return not self._resumed.is_set() and not HOLDING.get()

    def home_of(self, key: bytes) -> int:
        """The key's home in the current epoch: ``owners[crc32(key) & (buckets - 1)]``."""
        return self._owners[crc32(key) & self._mask]

    def previous_home_of(self, key: bytes) -> int | None:
        """Where ``key`` was homed before the last switch, if that was elsewhere and unretired."""
        if self.previous is None:
            return None
        home = self.previous.owners[bucket_of_bytes(key, self.previous.buckets)]
        return None if home == self.me or home in self.fenced else home

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("agent %d: task %s failed: %r", self.me, task.get_name(), task.exception())

    async def request(
        self,
        peer: int,
        kind: Kind,
        flags: int,
        map_id: int,
        method: int,
        key: bytes,
        body: bytes,
        on_reply: OnReply | None = None,
    ) -> Message:
        """Send a request to ``peer`` and wait for its reply (any status).

        ``on_reply`` runs as soon as the reply is read, before any other message of its frame.
        """
        link = self.channel.link_to(peer)
        req_id = next(self._ids)
        fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = (link, fut, on_reply)
        timer = asyncio.get_running_loop().call_later(
            self.config.call_timeout_s, self._expire, req_id, kind, map_id, key, peer
        )
        epoch = self.epoch
        self._open_requests[epoch] = self._open_requests.get(epoch, 0) + 1
        sent = asyncio.get_running_loop().time()
        try:
            link.send(encode_message(kind, flags, map_id, method, epoch, req_id, key, body))
            return await fut
        finally:
            self.request_latency.observe(kind.name.lower(),
                                         asyncio.get_running_loop().time() - sent)
            timer.cancel()
            self._pending.pop(req_id, None)
            left = self._open_requests[epoch] - 1
            if left:
                self._open_requests[epoch] = left
            else:
                del self._open_requests[epoch]

    def older_requests(self) -> int:
        """Requests sent in an older epoch and still unanswered: their peer (perhaps an
        instance that is leaving) must stay until they are answered."""
        return sum(n for e, n in self._open_requests.items() if e < self.epoch)

    def _expire(self, req_id: int, kind: Kind, map_id: int, key: bytes, peer: int) -> None:
        entry = self._pending.pop(req_id, None)
        if entry is not None and not entry[1].done():
            entry[1].set_exception(CallTimeout(
                f"{kind.name} for map {map_id} key {key.hex()} to instance {peer}: no answer "
                f"within {self.config.call_timeout_s} s"
            ))

    def reply(
        self, link: Link, req: Message, status: int, body: bytes = b"", epoch: int | None = None
    ) -> None:
        """Answer ``req``; ``epoch`` (default: the current one) stamps a grant's epoch.

        One-way messages (id 0) get no answer unless it is an error, which the sender logs.
        """
        if not req.req_id and status < Status.UNKNOWN_MAP:
            return
        if status >= Status.UNKNOWN_MAP:
            self.counters.errors_answered += 1
        # Replies and requests to one peer share one stream, so a grant always arrives before
        # a later revoke of the same object.
        shared = self.channel.links.get(link.peer) if link.peer is not None else None
        if shared is not None and shared.closed is None:
            link = shared
        try:
            link.send(
                encode_message(Kind.REPLY, status, req.map_id, req.method,
                               self.epoch if epoch is None else epoch, req.req_id, b"", body)
            )
        except PeerLost:
            log.info("agent %d: reply to %s #%d dropped, link to %s closed",
                     self.me, Kind(req.kind).name, req.req_id, link.peer)

    def fail(self, link: Link, req: Message, status: Status, text: str) -> None:
        """Answer ``req`` with an error and log it; nothing else is disturbed."""
        log.warning("agent %d: %s from instance %s: %s", self.me, Kind(req.kind).name, link.peer,
                    text)
        self.reply(link, req, status, text.encode())

    def check(self, reply: Message, what: str) -> Message:
        """Raise ``RemoteError`` if ``reply`` carries an error status."""
        if reply.status >= Status.UNKNOWN_MAP:
            text = reply.body.decode(errors="replace")
            raise RemoteError(reply.status, f"{what}: {Status(reply.status).name}: {text}")
        return reply

    def on_frame(self, link: Link, frame: bytes) -> None:
        try:
            messages = decode_frame(frame)
        except MalformedFrame as exc:
            self.counters.bad_frames += 1
            log.warning("agent %d: malformed frame from instance %s: %s", self.me, link.peer, exc)
            ids = first_req_ids(frame) or [0]
            for req_id in ids:
                bad = Message(Kind.CALL, 0, 0, 0, 0, req_id, b"", b"")
                self.reply(link, bad, Status.MALFORMED, f"malformed frame: {exc}".encode())
            return
        for msg in messages:
            try:
                self.on_message(link, msg)
            except Exception as exc:
                log.exception("agent %d: failed on %s", self.me, msg)
                self.reply(link, msg, Status.INTERNAL, f"internal error: {exc!r}".encode())

    def on_message(self, link: Link, msg: Message) -> None:
        kind = msg.kind
        if kind == Kind.REPLY:
            if msg.epoch > self.epoch:
                self.adopt(msg.epoch)
            entry = self._pending.pop(msg.req_id, None)
            if entry is not None and not entry[1].done():
                if entry[2] is not None:
                    entry[2](msg)
                entry[1].set_result(msg)
            elif msg.req_id == 0 and msg.status >= Status.UNKNOWN_MAP:
                log.warning("agent %d: instance %s reports %s: %s", self.me, link.peer,
                            Status(msg.status).name, msg.body.decode(errors="replace"))
            return
        if kind == Kind.HELLO:
            return
        if msg.epoch > self.epoch and not self.adopt(msg.epoch):
            self.fail(link, msg, Status.BAD_EPOCH,
                      f"epoch {msg.epoch} is not prepared here (at {self.epoch})")
            return
        if kind == Kind.SYNC:
            self.on_sync(link, msg)
            return
        if kind == Kind.SETTLE:
            self.spawn(self.serve_settle(link, msg), "settle")
            return
        ms = self.maps.get(msg.map_id)
        if ms is None:
            self.fail(link, msg, Status.UNKNOWN_MAP,
                      f"unknown map id {msg.map_id}; known: {sorted(self.maps)}")
            return
        if kind == Kind.CALL or kind == Kind.CAST:
            self.on_call(link, msg, ms)
        elif kind == Kind.PUSH:
            self.on_push(link, msg, ms)
        elif kind == Kind.ACQUIRE:
            self.spawn(self.serve_acquire(link, msg, ms), "acquire")
        elif kind == Kind.FETCH:
            self.spawn(self.serve_fetch(link, msg, ms), "fetch")
        elif kind == Kind.REPLICA:
            self.on_replica(link, msg, ms)

    def on_link_lost(self, link: Link, error: str) -> None:
        lost = [rid for rid, (lk, _, _) in self._pending.items() if lk is link]
        if lost:
            log.warning("agent %d: link to instance %s lost (%s); failing %d waiting calls",
                        self.me, link.peer, error, len(lost))
        for rid in lost:
            _, fut, _ = self._pending.pop(rid)
            if not fut.done():
                fut.set_exception(PeerLost(f"instance {link.peer} lost: {error}"))

    def adopt(self, epoch: int) -> bool:
        """Switch on evidence: a peer already acts in ``epoch``; False if it is not prepared."""
        if self.next is None or self.next.epoch != epoch:
            return False
        self.switched()
        return True

    def switched(self) -> None:
        raise NotImplementedError

    def on_call(self, link: Link, msg: Message, ms: MapState) -> None:
        raise NotImplementedError

    def on_sync(self, link: Link, msg: Message) -> None:
        raise NotImplementedError

    async def serve_settle(self, link: Link, msg: Message) -> None:
        raise NotImplementedError

    def on_push(self, link: Link, msg: Message, ms: MapState) -> None:
        raise NotImplementedError

    def on_replica(self, link: Link, msg: Message, ms: MapState) -> None:
        self.fail(link, msg, Status.UNKNOWN_MAP, "this agent keeps no backups")

    async def replicate_now(self, ms: MapState, key: bytes, held: bool = False) -> None:
        """Send ``key``'s object to its backup and wait for the acknowledgement (``held``:
        it was held here before the access that changed it)."""

    def copy_granted(self, ms: MapState, key: bytes, requester: int, data: bytes) -> None:
        """At the home: ``key``'s object, ``data``, is granted to ``requester`` (backups)."""

    def keep_given(self, ms: MapState, key: bytes, asker: int, data: bytes) -> None:
        """At a giver: ``data`` went to ``asker``, which holds it now (``Flag.KEEP_COPY``)."""

    def pulled_from(self, ms: MapState, key: bytes, giver: int) -> None:
        """At a home that pulled ``key``'s object to hold it: ``giver`` keeps a copy of it."""

    def drop_copy(self, ms: MapState, key: bytes, holder: int | None) -> None:
        """``holder`` handed ``key``'s object over (None: it was removed): the copies of it
        kept here are outdated (backups)."""

    async def serve_acquire(self, link: Link, msg: Message, ms: MapState) -> None:
        raise NotImplementedError

    async def serve_fetch(self, link: Link, msg: Message, ms: MapState) -> None:
        raise NotImplementedError

    async def home_acquire(
        self, ms: MapState, key: bytes, requester: int, flags: int
    ) -> tuple[Status, bytes, int]:
        raise NotImplementedError

    def store(self, ms: MapState, key: bytes, status: int, data: bytes, epoch: int) -> None:
        raise NotImplementedError

    def needs_push(self, ms: MapState, key: bytes) -> bool:
        raise NotImplementedError

    def push_soon(self, ms: MapState | None) -> None:
        raise NotImplementedError
