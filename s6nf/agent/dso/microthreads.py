"""Micro-threads: per-key FIFO execution on asyncio (DESIGN.md §4).

Work for one key runs in arrival order, one item at a time; a key whose item waits on a remote
access parks only that key. Queues are bounded: when a key already has ``max_per_key`` items
waiting, ``submit`` refuses the newest one with ``Overflow`` and counts it (drop-tail, so a
flow's earlier packets keep their order).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Iterable

from s6nf.agent.dso.errors import Overflow

log = logging.getLogger(__name__)

Work = Callable[[], Awaitable[None]]


class KeyedExecutor:
    def __init__(self, max_per_key: int = 1024) -> None:
        if max_per_key < 1:
            raise ValueError(f"max_per_key must be >= 1, got {max_per_key}")
        self.max_per_key = max_per_key
        self._queues: dict[Hashable, deque[Work]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._drains: dict[Hashable, asyncio.Task[None]] = {}
        self.overflows = 0
        self.failures = 0
        self.done = 0

    @property
    def depth(self) -> int:
        """Work items waiting or running, over all keys (the slow path's queue depth)."""
        return sum(len(q) for q in self._queues.values())

    def submit(self, key: Hashable, work: Work) -> None:
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque((work,))
            loop = asyncio.get_running_loop()
            task = loop.create_task(self._drain(key, queue), name=f"mt-{key!r}")
            self._tasks.add(task)
            self._drains[key] = task
            task.add_done_callback(self._tasks.discard)
            return
        if len(queue) >= self.max_per_key:
            self.overflows += 1
            raise Overflow(f"key {key!r} already has {len(queue)} queued items (max_per_key)")
        queue.append(work)

    async def _drain(self, key: Hashable, queue: deque[Work]) -> None:
        try:
            while queue:
                try:
                    await queue[0]()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    self.failures += 1
                    log.exception("micro-thread for key %r failed; running its next item", key)
                self.done += 1
                queue.popleft()
        finally:
            del self._queues[key]
            if self._drains.get(key) is asyncio.current_task():
                del self._drains[key]

    def queued(self, key: Hashable) -> int:
        queue = self._queues.get(key)
        return 0 if queue is None else len(queue)

    def busy_keys(self) -> list[Hashable]:
        """Keys with work waiting or running."""
        return list(self._queues)

    async def finished(self, keys: Iterable[Hashable]) -> None:
        """Until the work of each of ``keys`` queued now (and what joins it before its queue
        runs dry) has run."""
        tasks = [t for t in (self._drains.get(k) for k in keys) if t is not None]
        if tasks:
            await asyncio.wait(tasks)

    async def idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()


class KeyTurns:
    """FIFO turns per key: the home's queue of waiters for one object (DESIGN.md §3)."""

    def __init__(self) -> None:
        self._waiters: dict[bytes, deque[asyncio.Future[None]]] = {}

    def waiting(self, key: bytes) -> int:
        """Turns queued behind the current holder (0 if the key is free or just held)."""
        queue = self._waiters.get(key)
        return 0 if queue is None else len(queue)

    def busy(self, key: bytes) -> bool:
        return key in self._waiters

    async def acquire(self, key: bytes) -> None:
        queue = self._waiters.get(key)
        if queue is None:
            self._waiters[key] = deque()
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release(key)
            else:
                queue.remove(fut)
            raise

    def release(self, key: bytes) -> None:
        queue = self._waiters[key]
        while queue:
            fut = queue.popleft()
            if not fut.done():
                fut.set_result(None)
                return
        del self._waiters[key]
