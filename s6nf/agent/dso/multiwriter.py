"""MultiWriter objects: they stay at their home and calls go there.

*strict* calls are requests answered by the home, which applies them one at a time, so they are
linearizable. *untether* calls are one-way CAST messages sent on the sender's one stream to the
home, batched and FIFO. *stale* reads are strict calls whose answer is cached at the caller
and reused while it is younger than the method's bound (measured from when it was requested).
Arguments and results travel as ``marshal`` data (numbers, strings, bytes, tuples, lists,
dicts), never pickle.
"""

from __future__ import annotations

import asyncio
import logging
import marshal
from collections import deque
from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

from s6nf.agent.dso.config import Mode
from s6nf.agent.dso.core import HOLDING, AgentCore
from s6nf.agent.dso.errors import DsoError, Moved, RemoteError
from s6nf.agent.dso.keys import KeyLike, key_bytes
from s6nf.agent.dso.maps import Consistency, MethodSpec, MwMap
from s6nf.agent.dso.state import MapState
from s6nf.agent.dso.transport import Link
from s6nf.agent.dso.wire import Flag, Kind, Message, Status, encode_message

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")

Done = Callable[[Any, BaseException | None], None]
Origin = tuple[Link, Message] | None
"""Where a queued call came from: a peer's request (to forward as is) or this agent (None)."""
QueuedCall = tuple[MethodSpec, Any, Done, Origin, bool]
"""A call, its arguments, where its outcome goes, where it came from, and whether its
caller holds SingleWriter objects (``HOLDING``)."""


class CallQueue(deque[QueuedCall]):
    """Calls waiting at their home for the object, or for a stop-and-copy pause to end.

    ``waived`` is set when a call whose caller holds SingleWriter objects joins the queue:
    the pause must not hold it (the copy may wait for what its caller holds; the caller may
    be at another agent), so the queue runs at once, in order, earlier calls included."""

    def __init__(self) -> None:
        super().__init__()
        self.waived = asyncio.Event()


class MultiWriterMixin(AgentCore):
    def mw_submit(
        self, ms: MapState, key: bytes, spec: MethodSpec, args: Any, done: Done,
        origin: Origin = None,
    ) -> None:
        """Apply a call at this home, in arrival order per key; ``done`` gets the outcome.

        A call made by a task that holds objects (``HOLDING``, or ``Flag.HOLDER`` on a peer's
        request, which ``on_call`` turns into ``HOLDING``) is not held by a pause."""
        queue = ms.mw_queues.get(key)
        if queue is None:
            obj = ms.storage.get(key)
            if obj is None and not self.paused and self._new_here(ms, key):
                ms.storage.create(key)
                ms.directory[key] = self.me
                ms.owned_epoch[key] = self.epoch
                ms.arrived(key)
                obj = ms.storage.get(key)
            if obj is not None and not self.paused:
                self._apply(obj, spec, args, done)
                return
            queue = ms.mw_queues[key] = CallQueue()
            self.spawn(self._run_queue(ms, key, queue), "mw-queue")
        holder = bool(HOLDING.get())
        queue.append((spec, args, done, origin, holder))
        if holder and isinstance(queue, CallQueue):
            queue.waived.set()

    def _new_here(self, ms: MapState, key: bytes) -> bool:
        """This agent is the key's home and knows of no copy anywhere (no owner in its
        directory, no older epoch to ask, no acquire under way): what ``home_acquire`` would
        conclude, so the object is created here without a queue or a task (a new source's
        first call)."""
        return (key not in ms.directory and key not in ms.fetching
                and self.home_of(key) == self.me and self.previous_home_of(key) is None
                and not ms.turns.busy(key))

    def _apply(self, obj: Any, spec: MethodSpec, args: Any, done: Done) -> None:
        if spec.consistency is Consistency.UNTETHER:
            self.counters.casts_applied += 1
        else:
            self.counters.calls_applied += 1
        try:
            result = getattr(obj, spec.name)(*args)
        except Exception as exc:
            done(None, exc)
            return
        done(result, None)

    async def _run_queue(self, ms: MapState, key: bytes, queue: CallQueue) -> None:
        try:
            if self.home_of(key) == self.me and self.paused and not queue.waived.is_set():
                await self._pause_or_waiver(queue)
            while queue:
                obj = ms.storage.get(key)
                if obj is not None:
                    spec, args, done, _, _ = queue.popleft()
                    self._apply(obj, spec, args, done)
                    continue
                if self.home_of(key) != self.me:
                    self._forward_queue(ms, key, queue)
                    return
                try:
                    status, data, epoch = await self.home_acquire(ms, key, self.me, Flag.CREATE)
                    self.store(ms, key, status, data, epoch)
                except DsoError as exc:
                    if isinstance(exc, Moved) and self.home_of(key) != self.me:
                        continue
                    log.warning("agent %d: %s[%s] unavailable: %s; failing %d queued calls",
                                self.me, ms.decl.name, key.hex(), exc, len(queue))
                    while queue:
                        queue.popleft()[2](None, exc)
        finally:
            if ms.mw_queues.get(key) is queue:
                del ms.mw_queues[key]
            ms.wake(key)

    async def _pause_or_waiver(self, queue: CallQueue) -> None:
        """Until the stop-and-copy pause ends or a holder's call joins ``queue``."""
        waits = [asyncio.ensure_future(self._resumed.wait()),
                 asyncio.ensure_future(queue.waived.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    def _forward_queue(self, ms: MapState, key: bytes, queue: CallQueue) -> None:
        """The home moved while calls waited here: send them on, in order, to the new home."""
        home = self.home_of(key)
        while queue:
            spec, args, done, origin, holder = queue.popleft()
            self.counters.forwarded += 1
            if origin is not None and origin[1].kind == Kind.CAST:
                self._forward_cast(origin[0], origin[1], ms, home)
            elif origin is not None:
                self.spawn(self._forward(origin[0], origin[1], ms, spec, args, home), "mw-forward")
            elif spec.consistency is Consistency.UNTETHER:
                self._forward_cast(None, None, ms, home, key, spec.index, marshal.dumps(args))
            else:
                self.spawn(self._reroute(ms, key, spec, args, done, holder), "mw-reroute")

    async def _reroute(
        self, ms: MapState, key: bytes, spec: MethodSpec, args: Any, done: Done, holder: bool
    ) -> None:
        HOLDING.set(1 if holder else 0)
        try:
            result = await self.mw_call(ms, key, spec, args)
        except Exception as exc:
            done(None, exc)
            return
        done(result, None)

    def on_call(self, link: Link, msg: Message, ms: MapState) -> None:
        decl = ms.decl
        if not isinstance(decl, MwMap):
            self.fail(link, msg, Status.UNKNOWN_MAP, f"map {msg.map_id} is not a MultiWriter map")
            return
        if msg.method >= len(decl.methods):
            self.fail(link, msg, Status.UNKNOWN_METHOD,
                      f"map {decl.name} has no method {msg.method} (has {len(decl.methods)})")
            return
        try:
            args = marshal.loads(msg.body)
        except (ValueError, EOFError, TypeError) as exc:
            self.fail(link, msg, Status.MALFORMED, f"arguments do not unmarshal: {exc}")
            return
        if not isinstance(args, tuple):
            self.fail(link, msg, Status.MALFORMED, f"arguments must be a tuple, got {type(args)}")
            return
        spec = decl.methods[msg.method]
        home = self.home_of(msg.key)
        if home != self.me:
            self.counters.forwarded += 1
            if msg.kind == Kind.CAST:
                self._forward_cast(link, msg, ms, home)
            else:
                self.spawn(self._forward(link, msg, ms, spec, args, home), "mw-forward")
            return
        one_way = msg.kind == Kind.CAST
        done = self._responder(link, msg, ms, spec, args, one_way)
        holder = HOLDING.set(1) if not one_way and msg.status & Flag.HOLDER else None
        try:
            self.mw_submit(ms, msg.key, spec, args, done, (link, msg))
        finally:
            if holder is not None:
                HOLDING.reset(holder)

    def _responder(
        self, link: Link, msg: Message, ms: MapState, spec: MethodSpec, args: Any, one_way: bool
    ) -> Done:
        def done(result: Any, error: BaseException | None) -> None:
            if error is not None:
                if one_way:
                    log.warning("agent %d: untether %s.%s%r failed: %r",
                                self.me, ms.decl.name, spec.name, args, error)
                else:
                    self.reply(link, msg, Status.APP_ERROR, repr(error).encode())
                return
            if not one_way:
                try:
                    body = marshal.dumps(result)
                except ValueError as exc:
                    text = f"result not marshallable: {exc}"
                    self.reply(link, msg, Status.APP_ERROR, text.encode())
                    return
                self.reply(link, msg, Status.OK, body)

        return done

    def _forward_cast(self, link: Link | None, msg: Message | None, ms: MapState, home: int,
                      key: bytes = b"", method: int = 0, body: bytes = b"") -> None:
        """Hand a cast on to its home at once, in the step that handles it here: a SYNC
        answered after this step then covers it (``sync.py``). ``msg``: a peer's cast (its
        key, method and body are sent on); None: this agent's own (``key``, ``method``,
        ``body``), already counted when it was made."""
        if msg is not None:
            key, method, body = msg.key, msg.method, msg.body
        try:
            self.channel.link_to(home).send(
                encode_message(Kind.CAST, 0, ms.map_id, method, self.epoch, 0, key, body),
                urgent=False)
        except DsoError as exc:
            self.counters.casts_lost += 1
            text = f"forward of a cast to home {home} failed: {exc}"
            if link is not None and msg is not None:
                self.fail(link, msg, Status.UNREACHABLE, text)
            else:
                log.warning("agent %d: %s", self.me, text)

    async def _forward(
        self, link: Link, msg: Message, ms: MapState, spec: MethodSpec, args: Any, home: int
    ) -> None:
        try:
            reply = await self.request(home, Kind.CALL, msg.status & Flag.HOLDER, ms.map_id,
                                       spec.index, msg.key, msg.body)
            self.reply(link, msg, reply.status, reply.body)
        except DsoError as exc:
            self.fail(link, msg, Status.UNREACHABLE, f"forward to home {home} failed: {exc}")

    async def mw_call(self, ms: MapState, key: bytes, spec: MethodSpec, args: Any) -> Any:
        """A call at the key's home. One whose home vanished is made again at the new home
        once the failover that follows has ended (``after_failover``), so it may apply twice
        if the dead home applied it and its copy reached the backup: calls must bear that
        (the NAT's port lease then leaks a lease, never gives a port twice)."""
        if spec.consistency is Consistency.UNTETHER:
            self.mw_cast(ms, key, spec, args)
            return None
        while True:
            takeovers = self.takeovers_ended
            try:
                return await self._mw_call(ms, key, spec, args)
            except DsoError as exc:
                if not await self.retry_after_failover(exc, takeovers):
                    raise

    async def _mw_call(self, ms: MapState, key: bytes, spec: MethodSpec, args: Any) -> Any:
        use_cache = (
            spec.consistency is Consistency.STALE and self.config.mode is not Mode.REMOTE_ONLY
        )
        now = asyncio.get_running_loop().time()
        home = self.home_of(key)
        if home == self.me:
            return await self._call_here(ms, key, spec, args)
        body = marshal.dumps(args)
        if use_cache:
            cached = ms.stale_cache.get((key, spec.index, body))
            if cached is not None and now - cached[0] <= spec.bound_s:
                return cached[1]
        self.counters.calls_sent += 1
        flags = Flag.HOLDER if HOLDING.get() else 0
        reply = await self.request(home, Kind.CALL, flags, ms.map_id, spec.index, key, body)
        self.check(reply, f"{ms.decl.name}.{spec.name} on {key.hex()} at home {home}")
        result = marshal.loads(reply.body)
        if use_cache:
            if len(ms.stale_cache) >= self.config.stale_cache_entries:
                ms.stale_cache.clear()
            ms.stale_cache[(key, spec.index, body)] = (now, result)
        return result

    async def _call_here(self, ms: MapState, key: bytes, spec: MethodSpec, args: Any) -> Any:
        obj = ms.storage.get(key)
        if obj is not None and key not in ms.mw_queues and not self.paused:
            self.counters.calls_applied += 1
            return getattr(obj, spec.name)(*args)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def done(result: Any, error: BaseException | None) -> None:
            if error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(result)

        self.mw_submit(ms, key, spec, args, done)
        return await fut

    def mw_cast(self, ms: MapState, key: bytes, spec: MethodSpec, args: tuple[Any, ...]) -> None:
        home = self.home_of(key)
        if home == self.me:
            self.counters.casts_local += 1
            self.mw_submit(ms, key, spec, args, self._log_failure(ms, spec, args))
            return
        self.counters.casts_sent += 1
        self.channel.link_to(home).send(
            encode_message(Kind.CAST, 0, ms.map_id, spec.index, self.epoch, 0, key,
                           marshal.dumps(args)), urgent=False)

    def _log_failure(self, ms: MapState, spec: MethodSpec, args: Any) -> Done:
        def done(result: Any, error: BaseException | None) -> None:
            if error is not None:
                log.warning("agent %d: untether %s.%s%r failed: %r",
                            self.me, ms.decl.name, spec.name, args, error)

        return done


class MwHandle(Generic[T]):
    """An NF's view of one MultiWriter map: call methods of the object for a key."""

    def __init__(self, agent: MultiWriterMixin, ms: MapState, decl: MwMap[T]) -> None:
        self._agent = agent
        self._ms = ms
        self._decl = decl

    async def call(
        self,
        key: KeyLike,
        method: Callable[Concatenate[T, P], R],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        """Run ``method`` on the object for ``key`` with its declared consistency.

        Raises:
            RemoteError: the method raised at a remote home (its repr is in the text).
            DsoError: the home could not be reached.
        """
        if kwargs:
            raise TypeError(f"DSO calls take positional arguments only, got {sorted(kwargs)}")
        spec = self._decl.spec_of(method)
        result: R = await self._agent.mw_call(self._ms, key_bytes(key), spec, args)
        return result

    def cast(
        self,
        key: KeyLike,
        method: Callable[Concatenate[T, P], None],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> None:
        """Send an ``@untether`` call; it returns at once and is applied at the home."""
        if kwargs:
            raise TypeError(f"DSO calls take positional arguments only, got {sorted(kwargs)}")
        spec = self._decl.spec_of(method)
        if spec.consistency is not Consistency.UNTETHER:
            raise TypeError(f"{self._decl.name}.{spec.name} is {spec.consistency.value}; "
                            "cast() needs an @untether method")
        self._agent.mw_cast(self._ms, key_bytes(key), spec, args)

    def held(self) -> list[tuple[bytes, T]]:
        """The objects homed at this agent now, for local queries (listing assets); read
        them at once and keep none: calls may change them and a scale event may move them."""
        storage = self._ms.storage
        return [(key, obj) for key in storage.snapshot()
                if (obj := storage.get(key)) is not None]


__all__ = ["MultiWriterMixin", "MwHandle", "RemoteError"]
