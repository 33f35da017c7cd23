"""The controller's heartbeat receiver: a gRPC server of its own whose handlers run in its own
threads, so a controller whose event loop is busy (encoding a large steering write, running a
failover) still reads every heartbeat as it arrives, and the dead-after clock counts from the
arrival, not from when the loop got round to it (docs/failover.md).

Agents learn its port from their registration's reply (``heartbeat_port``) and reach it at
the controller's address with that port.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import grpc

from s6nf.controller.liveness import Beat, received
from s6nf.rpc import Json, field, sync_generic_handler
from s6nf.tls import Material, PeerCheck, SyncPeerInterceptor, add_port

SERVICE = "s6nf.Heartbeat"
ROLES = ("agent",)


class HeartbeatBoard:
    """The last heartbeat of every member. The receiver's threads write it, the event loop
    admits and forgets members and reads it; a lock keeps the two apart. A beat from an
    instance that is not admitted raises ``LookupError`` (NOT_FOUND to the agent, which then
    registers again)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._beats: dict[int, Beat] = {}

    def admit(self, instances: Iterable[int], now: float) -> None:
        """``instances`` count as heard from at ``now`` (a registration; a controller that
        starts listening with saved members)."""
        with self._lock:
            for i in instances:
                self._beats[i] = Beat(now)

    def forget(self, instances: Iterable[int]) -> None:
        with self._lock:
            for i in instances:
                self._beats.pop(i, None)

    def beat(self, instance: int, stalled_s: float) -> None:
        with self._lock:
            previous = self._beats.get(instance)
            if previous is None:
                raise LookupError(f"instance {instance} is not registered")
            self._beats[instance] = received(previous, self.clock(), stalled_s)

    def snapshot(self) -> dict[int, Beat]:
        with self._lock:
            return dict(self._beats)

    def handle(self, request: Json) -> Json:
        """One ``Beat`` call: ``{"instance": i, "stalled_s": s}``."""
        stalled = field(request, "stalled_s", (int, float), optional=True)
        self.beat(field(request, "instance", int), float(stalled or 0.0))
        return {}


class HeartbeatServer:
    """``with HeartbeatServer(board, bind, tls) as server:`` serves ``s6nf.Heartbeat/Beat`` on
    ``bind`` (``host:port``; port 0: any free one, ``server.port``) from two threads."""

    def __init__(self, board: HeartbeatBoard, bind: str, tls: Material | None) -> None:
        interceptors = [] if tls is None else [SyncPeerInterceptor(PeerCheck(SERVICE, ROLES))]
        self._server = grpc.server(
            ThreadPoolExecutor(max_workers=2, thread_name_prefix="heartbeats"),
            interceptors=interceptors)
        self._server.add_generic_rpc_handlers(
            (sync_generic_handler(SERVICE, {"Beat": board.handle}),))
        self.port = add_port(self._server, bind, tls)
        if self.port == 0:
            raise OSError(f"controller cannot listen for heartbeats on {bind}; give another "
                          "port with --heartbeat-port")

    def __enter__(self) -> HeartbeatServer:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(grace=0.2).wait()
