"""The slow path of an NF instance: punted packets → per-flow queues drained by micro-threads
→ the NF's handler → re-injection → release (docs/punt-design.md).

A flow's punted packets wait in its queue and are handled in the order they were punted, by
one micro-thread at a time. An NF with a batch handler gets everything queued for the flow at
once, and may take what arrives while it works (``more``) before it lets go of the flow's
object, so a flow's backlog is never split between two owners by a migration.

Frames leave before the release is written; the release is written once, when the flow's queue
is empty: the kernel compares it with the packets it punted, so an earlier release could not
flip the flow anyway. A packet refused because its flow's queue is full is dropped, counted,
and released with the rest, so the flow never waits for it; so is one that would take the
whole slow path past its backlog bound.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from s6nf.agent.dso.microthreads import KeyedExecutor
from s6nf.agent.punt import MalformedPunt, Punted, PuntPath

log = logging.getLogger(__name__)

Output = tuple[int, bytes] | None
"""(direction to leave by, frame), or None: the packet is dropped."""
Handler = Callable[[Punted], Awaitable[Output]]
"""An NF's slow path for one packet."""
BatchHandler = Callable[[list[Punted], Callable[[], list[Punted]]], Awaitable[list[Output]]]
"""An NF's slow path for a flow's queued packets; ``more()`` takes those queued since. It
returns one output per packet handled, in order."""
HandoffWait = Callable[[bytes], Awaitable[object] | None]
"""The agent's ``handoff_wait``: what to await before work on a flow may start (its bucket is
being handed over by a scale event), or None."""


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


class SlowPath:
    def __init__(self, punt: PuntPath, micro: KeyedExecutor, handler: Handler,
                 emitter: Emitter, batch: BatchHandler | None = None,
                 max_queued: int = 1 << 16, max_backlog: int = 1 << 18,
                 max_active: int = 64, handoff: HandoffWait | None = None) -> None:
        """``max_queued``: packets one flow may have waiting; ``max_backlog``: all flows
        together (about 200 bytes each: the default bounds the backlog near 50 MB);
        ``max_active``: flows handled at once. The others wait off the event loop's ready
        queue, so the agent's control service and state channel, which share the loop, stay
        responsive under a backlog (a scale event's RPCs would otherwise queue behind it).
        ``handoff``: the agent's ``handoff_wait``, so that a flow handed over by a scale event
        is not handled here before its previous instance has sent what it queued."""
        self.punt = punt
        self.handoff = handoff
        self.micro = micro
        self.handler = handler
        self.batch = batch
        self.emitter = emitter
        self.max_queued = max_queued
        self.max_backlog = max_backlog
        self.backlog = 0
        """Packets waiting in flow queues now."""
        self._active = asyncio.Semaphore(max_active)
        self.counters = SlowPathCounters()
        self._queues: dict[bytes, deque[Punted]] = {}
        self._settled: dict[bytes, int] = {}
        """Flows whose punted and released counts were equal at the last sweep."""
        self._refused: dict[bytes, int] = {}
        """Highest seq refused per flow while its queue was full: released with the rest."""

    @property
    def queued(self) -> int:
        """Punted packets waiting in flow queues (the slow path's queue depth)."""
        return self.backlog

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Drain the ring whenever it has records (the ring's epoll fd in ``loop``)."""
        loop.add_reader(self.punt.ring.fileno(), self.drain)

    def stop(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.remove_reader(self.punt.ring.fileno())

    def drain(self) -> int:
        """Queue every waiting punt record on its flow; returns how many."""
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

    def sweep(self) -> int:
        """Forget the punt state of flows whose episode ended without a next packet.

        The kernel ends an episode (deleting the flow's ``pend`` and ``released`` entries) at
        the flow's next packet; a flow that never sends one would keep them for ever and a
        stream of short flows would fill ``pend``. A flow whose punted and released counts
        are equal, with nothing queued here, and unchanged since the previous sweep, is idle:
        its entries are deleted here. (A packet of that flow arriving within the moment
        between the check and the delete could overtake its predecessor; flows idle for a
        whole sweep interval make that vanishingly rare.) Returns the flows forgotten.
        """
        current = self.punt.settled()
        idle = [key for key, punted in current.items()
                if key not in self._queues and self._settled.get(key) == punted]
        for key in idle:
            self.punt.forget(key)
            del current[key]
        self._settled = current
        return len(idle)

    def _submit(self, pkt: Punted) -> None:
        self.counters.punted += 1
        queue = self._queues.get(pkt.key)
        if queue is not None and (len(queue) >= self.max_queued
                                  or self.backlog >= self.max_backlog):
            self.counters.overflowed += 1
            self._refused[pkt.key] = pkt.seq
            return
        if queue is None and self.backlog >= self.max_backlog:
            self.counters.overflowed += 1
            self.punt.release(pkt.key, pkt.seq)
            return
        self.backlog += 1
        if queue is None:
            queue = self._queues[pkt.key] = deque((pkt,))
            self.micro.submit(pkt.key, lambda: self._run(pkt.key, queue))
        else:
            queue.append(pkt)

    def hold(self, buckets: frozenset[int], of: int) -> None:
        """The agent's handoff: the kernel must turn no entry of these buckets ready."""
        self.punt.hold(buckets, of)

    async def _run(self, key: bytes, queue: deque[Punted]) -> None:
        wait = self.handoff(key) if self.handoff is not None else None
        if wait is not None:
            await wait
        async with self._active:
            await self._run_flow(key, queue)

    async def _run_flow(self, key: bytes, queue: deque[Punted]) -> None:
        try:
            last = 0
            while queue:
                handled, outputs = await self._handle(queue)
                for out in outputs or ():
                    if out is None:
                        self.counters.dropped_by_nf += 1
                    else:
                        self.emitter.emit(*out)
                        self.counters.reinjected += 1
                if handled:
                    last = handled[-1].seq
            refused = self._refused.pop(key, 0)
            self.punt.release(key, max(last, refused))
        finally:
            if self._queues.get(key) is queue:
                del self._queues[key]

    async def _handle(self, queue: deque[Punted]) -> tuple[list[Punted], list[Output] | None]:
        """Handle what is queued (and, with a batch handler, what arrives meanwhile); no
        outputs when the handler failed (the packets are counted as failed)."""
        handled: list[Punted] = []

        def more() -> list[Punted]:
            taken = list(queue)
            queue.clear()
            self.backlog -= len(taken)
            handled.extend(taken)
            return taken

        first = more()
        try:
            if self.batch is not None:
                outputs = await self.batch(first, more)
                if len(outputs) != len(handled):
                    raise RuntimeError(f"batch handler gave {len(outputs)} outputs for "
                                       f"{len(handled)} packets")
                return handled, outputs
            return handled, [await self.handler(pkt) for pkt in first]
        except asyncio.CancelledError:
            raise
        except Exception:
            self.counters.failed += len(handled)
            log.exception("slow path failed on %d packets of flow %s; dropped", len(handled),
                          first[0].key.hex())
            return handled, None
