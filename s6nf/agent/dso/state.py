"""Per-map bookkeeping an agent keeps: held objects, pins, its home directory, migration."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from s6nf.agent.dso.maps import AnyMap, MwMap
from s6nf.agent.dso.microthreads import KeyTurns
from s6nf.agent.dso.storage import Storage


@dataclass(eq=False)
class MapState:
    decl: AnyMap
    storage: Storage[Any]
    """Objects held (owned) here."""
    pins: dict[bytes, int] = field(default_factory=dict)
    """Accesses in progress per held key; a pinned object is not handed over."""
    unpin_waiters: dict[bytes, list[asyncio.Future[None]]] = field(default_factory=dict)
    fetching: dict[bytes, tuple[asyncio.Future[int], bool, int]] = field(default_factory=dict)
    """Acquires in flight from here, coalesced: key → (outcome, create-if-absent?, epoch)."""
    granted: set[bytes] = field(default_factory=set)
    """Keys whose grant reply has been read but whose fetch has not stored the object yet."""
    directory: dict[bytes, int] = field(default_factory=dict)
    """For keys homed here: the instance that owns the object."""
    old_directory: dict[bytes, int] = field(default_factory=dict)
    """Entries of keys homed here in the previous epoch, kept to answer the new home's pulls."""
    locating: int = 0
    """Pulls in progress from a key's previous home: the previous key space is still in use
    (the previous home may not leave yet)."""
    turns: KeyTurns = field(default_factory=KeyTurns)
    """FIFO waiters per key at the home."""
    owned_epoch: dict[bytes, int] = field(default_factory=dict)
    """Epoch in which each held object was granted; older ones whose home moved are pushed."""
    pushing: dict[bytes, int] = field(default_factory=dict)
    """Objects pushed to their home and not yet acknowledged: key → destination."""
    arrivals: dict[bytes, asyncio.Future[None]] = field(default_factory=dict)
    """Waiters for objects that a peer said it pushed here."""
    mw_queues: dict[bytes, deque[Any]] = field(default_factory=dict)
    """MultiWriter calls waiting at the home for their object (it is being fetched)."""
    stale_cache: dict[tuple[bytes, int, bytes], tuple[float, Any]] = field(default_factory=dict)
    """(key, method, args) → (time the answer was requested, answer)."""
    sync_replica: bool = False
    """Objects are replicated to their backup before an access block ends (``replica``)."""

    @property
    def map_id(self) -> int:
        return self.decl.map_id

    @property
    def multiwriter(self) -> bool:
        return isinstance(self.decl, MwMap)

    def pin(self, key: bytes) -> None:
        self.pins[key] = self.pins.get(key, 0) + 1

    def unpin(self, key: bytes) -> bool:
        """Drop one pin; True if the object is now free."""
        left = self.pins[key] - 1
        if left:
            self.pins[key] = left
            return False
        del self.pins[key]
        self.wake(key)
        return True

    def wake(self, key: bytes) -> None:
        """Let those waiting for ``key`` to be free look again."""
        for fut in self.unpin_waiters.pop(key, ()):
            if not fut.done():
                fut.set_result(None)

    async def wait_unpinned(self, key: bytes) -> None:
        while key in self.pins or key in self.mw_queues:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.unpin_waiters.setdefault(key, []).append(fut)
            await fut

    def arrived(self, key: bytes) -> None:
        fut = self.arrivals.pop(key, None)
        if fut is not None and not fut.done():
            fut.set_result(None)

    async def wait_arrival(self, key: bytes, timeout_s: float) -> bool:
        """Wait until ``key`` is held here; False after ``timeout_s``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.storage.get(key) is None:
            left = deadline - loop.time()
            if left <= 0:
                return False
            fut = self.arrivals.get(key)
            if fut is None or fut.done():
                fut = self.arrivals[key] = loop.create_future()
            try:
                await asyncio.wait_for(asyncio.shield(fut), left)
            except TimeoutError:
                return False
        return True
