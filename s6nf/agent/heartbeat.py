"""An agent's heartbeats, sent by a process of its own (``s6nf.agent.heartbeat_sender``) so
that nothing the agent does stops them: not an event loop kept busy (a slow-path backlog, a
long replication pass, a large migration), nor a full garbage collection holding the GIL. Only
the agent's death, a frozen agent (SIGSTOP, which the sender sees), a dead host or a cut link
stop them.

The agent's event loop writes a tick to the sender every 50 ms; each beat says how long the
loop has not ticked, and the controller declares an agent whose loop stays stalled for its
``--wedged-after`` bound dead although it still beats (docs/failover.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from types import TracebackType

from s6nf.agent.heartbeat_sender import SenderSettings
from s6nf.tls import Material

log = logging.getLogger(__name__)
TICK_S = 0.05
"""How often the event loop tells the sender it turned over."""
RESPAWN_S = 0.2
READY_TIMEOUT_S = 60.0
"""How long a sender may take to start (a loaded host imports gRPC slowly)."""


class Heartbeats:
    """``async with Heartbeats(...) as beats:`` runs the sender and feeds it the loop's ticks;
    ``resume(port)`` after each registration points it at the controller's heartbeat receiver
    (``controller``'s host, that port). When the controller answers that it does not know this
    agent (it was declared dead, or lost its state), ``unregistered`` is set and the sender
    waits for the next ``resume``. A sender that exits is started again."""

    def __init__(self, instance: int, controller: str, tls: Material | None,
                 interval_s: float) -> None:
        self.settings = SenderSettings(instance, controller.rpartition(":")[0], interval_s,
                                       TICK_S, tls)
        self.unregistered = asyncio.Event()
        self._ready = asyncio.Event()
        self.started = 0
        """Sender processes started (more than one: one exited and was replaced)."""
        self._port = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Heartbeats:
        await self.start()
        await self.ready()
        return self

    async def start(self) -> None:
        """Start the sender; it loads while the agent does the rest of its start."""
        await self._spawn()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._tick(), name="heartbeat-ticks"),
                       loop.create_task(self._watch(), name="heartbeat-sender")]

    async def ready(self) -> None:
        """Until the sender says it is ready (it beats at once from then on)."""
        try:
            await asyncio.wait_for(self._ready.wait(), READY_TIMEOUT_S)
        except TimeoutError:
            raise RuntimeError(f"agent {self.settings.instance}: the heartbeat sender did not "
                               f"start within {READY_TIMEOUT_S:g} s; its error is above"
                               ) from None

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        proc = self._proc
        if proc is not None and proc.returncode is None:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 2.0)
            except TimeoutError:
                proc.kill()
                await proc.wait()

    def resume(self, port: int) -> None:
        """Beat to ``port`` on the controller's host."""
        if port <= 0:
            raise ValueError(f"the controller named no heartbeat port ({port}); is it older "
                             "than this agent?")
        self.unregistered.clear()
        self._port = port
        self._write(f"p {port}\n")

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    async def _spawn(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "s6nf.agent.heartbeat_sender",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        self.started += 1
        self._write(self.settings.to_json() + "\n")
        if self._port:
            self._write(f"p {self._port}\n")

    def _write(self, line: str) -> None:
        proc = self._proc
        if proc is not None and proc.stdin is not None and not proc.stdin.is_closing():
            proc.stdin.write(line.encode())

    async def _tick(self) -> None:
        while True:
            self._write("t\n")
            await asyncio.sleep(TICK_S)

    async def _watch(self) -> None:
        while True:
            proc = self._proc
            assert proc is not None and proc.stdout is not None
            line = await proc.stdout.readline()
            if line.strip() == b"ready":
                self._ready.set()
            elif line.strip() == b"unregistered":
                self._port = 0
                self.unregistered.set()
            elif not line:
                code = await proc.wait()
                log.error("agent %d: the heartbeat sender exited with code %s; starting "
                          "another", self.settings.instance, code)
                await asyncio.sleep(RESPAWN_S)
                with contextlib.suppress(OSError):
                    await self._spawn()
