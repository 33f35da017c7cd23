"""The slow path of an NF instance: punted packets → per-flow micro-threads → the NF's
handler → re-injection → release (docs/punt-design.md).

Each punted packet runs in its flow's micro-thread, so a flow's packets leave in the order they
were punted. Only the flow's last queued packet writes its release, after it has left: the
kernel compares the release with the packets it punted, so a release written while later
packets still wait could not flip the flow anyway, and skipping it saves a map update.
A packet refused because its flow's queue is full is dropped, and its release is folded
into the flow's last queued packet, so the flow never waits for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from s6nf.agent.dso.errors import Overflow
from s6nf.agent.dso.microthreads import KeyedExecutor
from s6nf.agent.punt import MalformedPunt, Punted, PuntPath

log = logging.getLogger(__name__)

Handler = Callable[[Punted], Awaitable[tuple[int, bytes] | None]]
"""An NF's slow path for one packet: (direction to leave by, frame), or None to drop it."""


class Emitter(Protocol):
    """Where re-injected frames go: a socket per direction, or a list in tests."""

    def emit(self, direction: int, frame: bytes) -> None: ...


@dataclass
class SlowPathCounters:
    punted: int = 0
    reinjected: int = 0
    dropped_by_nf: int = 0
    failed: int = 0
    overflowed: int = 0
    malformed: int = 0


class _Release:
    """The seq a queued packet releases when it is done (raised by later overflow drops)."""

    __slots__ = ("seq",)

    def __init__(self, seq: int) -> None:
        self.seq = seq


class SlowPath:
    def __init__(self, punt: PuntPath, micro: KeyedExecutor, handler: Handler,
                 emitter: Emitter) -> None:
        self.punt = punt
        self.micro = micro
        self.handler = handler
        self.emitter = emitter
        self.counters = SlowPathCounters()
        self._tail: dict[bytes, _Release] = {}

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Drain the ring whenever it has records (the ring's epoll fd in ``loop``)."""
        loop.add_reader(self.punt.ring.fileno(), self.drain)

    def stop(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.remove_reader(self.punt.ring.fileno())

    def drain(self) -> int:
        """Queue every waiting punt record on its flow's micro-thread; returns how many."""
        records = self.punt.take()
        for raw in records:
            try:
                pkt = Punted.decode(raw)
            except MalformedPunt as exc:
                self.counters.malformed += 1
                log.warning("dropped a malformed punt record: %s", exc)
                continue
            self._submit(pkt)
        return len(records)

    def _submit(self, pkt: Punted) -> None:
        self.counters.punted += 1
        release = _Release(pkt.seq)
        try:
            self.micro.submit(pkt.key, lambda: self._run(pkt, release))
        except Overflow:
            self.counters.overflowed += 1
            self._tail[pkt.key].seq = pkt.seq
            return
        self._tail[pkt.key] = release

    async def _run(self, pkt: Punted, release: _Release) -> None:
        try:
            out = await self.handler(pkt)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.counters.failed += 1
            log.exception("slow path failed on a packet of flow %s; dropped", pkt.key.hex())
            out = None
        else:
            if out is None:
                self.counters.dropped_by_nf += 1
        if out is not None:
            self.emitter.emit(*out)
            self.counters.reinjected += 1
        if self._tail.get(pkt.key) is release:
            del self._tail[pkt.key]
            self.punt.release(pkt.key, release.seq)
