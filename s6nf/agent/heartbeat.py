"""An agent's heartbeats, sent from a thread of its own with its own gRPC channel, so an event
loop kept busy (a slow-path backlog, a long replication pass, a large migration) does not
silence them; only the process's death, a frozen process or a cut link does.

Each beat carries how long the event loop has made no progress (``LoopProgress``): the
controller declares an agent whose loop stays stalled for its ``--wedged-after`` bound dead
although it still beats (docs/failover.md).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import grpc

from s6nf.rpc import FAST_RECONNECT, RpcError, SyncJsonClient
from s6nf.tls import Material

log = logging.getLogger(__name__)
SERVICE = "s6nf.Heartbeat"
BEAT_TIMEOUT_S = 1.0


class LoopProgress:
    """When the event loop last ran: ``run`` stamps the time every ``tick_s``; any thread
    reads how long ago that was, beyond the tick itself."""

    def __init__(self, tick_s: float = 0.05) -> None:
        self.tick_s = tick_s
        self.at = time.monotonic()

    async def run(self) -> None:
        while True:
            self.at = time.monotonic()
            await asyncio.sleep(self.tick_s)

    def stalled_s(self, now: float) -> float:
        return max(0.0, now - self.at - self.tick_s)


class Heartbeats:
    """Beats to the controller's heartbeat receiver every ``interval_s`` from a daemon thread,
    once ``resume`` gave it the receiver's port. When the controller answers that it does not
    know this agent (it was declared dead, or the controller lost its state), the thread
    pauses and sets ``unregistered`` in the event loop, which registers again and resumes it.
    """

    def __init__(self, instance: int, controller: str, tls: Material | None,
                 interval_s: float, progress: LoopProgress) -> None:
        self.instance = instance
        self.host = controller.rpartition(":")[0]
        self.tls = tls
        self.interval_s = interval_s
        self.progress = progress
        self.unregistered = asyncio.Event()
        self.sent = 0
        self._loop = asyncio.get_running_loop()
        self._port = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeats-{instance}",
                                        daemon=True)

    def resume(self, port: int) -> None:
        """Beat to ``port`` on the controller's host (started on the first call)."""
        if port <= 0:
            raise ValueError(f"the controller named no heartbeat port ({port}); is it older "
                             "than this agent?")
        self.unregistered.clear()
        self._port = port
        if not self._thread.is_alive():
            self._thread.start()

    async def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            await asyncio.to_thread(self._thread.join, BEAT_TIMEOUT_S + 1.0)

    def _run(self) -> None:
        client: SyncJsonClient | None = None
        reachable = True
        try:
            while not self._stop.wait(self.interval_s):
                port = self._port
                if port == 0:
                    continue
                address = f"{self.host}:{port}"
                if client is None or client.address != address:
                    if client is not None:
                        client.close()
                    client = SyncJsonClient(address, SERVICE, BEAT_TIMEOUT_S, self.tls,
                                            FAST_RECONNECT)
                stalled = self.progress.stalled_s(time.monotonic())
                try:
                    client.call("Beat", {"instance": self.instance, "stalled_s": stalled})
                    self.sent += 1
                except RpcError as exc:
                    if exc.code == grpc.StatusCode.NOT_FOUND:
                        log.warning("agent %d: the controller does not know it (%s); "
                                    "registering again", self.instance, exc)
                        self._port = 0
                        self._tell_loop()
                    elif reachable:
                        log.warning("agent %d: controller unreachable (%s); the data plane "
                                    "runs on, retrying", self.instance, exc.code.name)
                        reachable = False
                    continue
                if not reachable:
                    log.warning("agent %d: controller reachable again", self.instance)
                    reachable = True
        finally:
            if client is not None:
                client.close()

    def _tell_loop(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self.unregistered.set)
        except RuntimeError:
            self._stop.set()
