"""An NF instance without an interface: its real eBPF program run by BPF_PROG_TEST_RUN, its
real agent (DSO runtime, slow path) in this process. Frames leave into ``outputs`` in the
order they would leave the instance: fast-path frames at once, slow-path frames when the
agent re-injects them. Used by the output-equivalence checker and the NF tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s6nf.agent.dso import AgentConfig, DsoAgent, Schema
from s6nf.agent.dso.microthreads import KeyedExecutor
from s6nf.agent.loader import Program, load
from s6nf.agent.maps import ProgramStats
from s6nf.agent.punt import Punted, PuntPath
from s6nf.agent.test_run import XDP_DROP, XDP_REDIRECT, run_xdp
from s6nf.agent.verdicts import Reason
from s6nf.keyspace import KeySpace
from s6nf.nfs.slowpath import Handler, SlowPath

Output = tuple[int, bytes]
"""(direction, frame) of a frame leaving the instance."""


@dataclass(frozen=True)
class NfKind:
    """How to run one NF: its program, its schema and its slow-path handler."""

    program: str
    entries: tuple[str, str]
    """The XDP entry functions of the forward and the reply direction."""
    schema: Callable[[Program | Path], Schema]
    """The NF's schema over a loaded program's maps or an instance's pinned ones."""
    handler: Callable[[DsoAgent, Program | Path], tuple[Handler, Any]]
    """Builds (the slow-path handler, the NF object) for an agent."""
    configure: Callable[[Program], None]


class ListEmitter:
    def __init__(self, outputs: list[Output]) -> None:
        self.outputs = outputs

    def emit(self, direction: int, frame: bytes) -> None:
        self.outputs.append((direction, frame))


class SimInstance:
    """One instance. ``program``: an already loaded (and emptied) program to use instead of
    compiling one, which the caller keeps and closes; ``outputs``: the list frames leave into,
    which several instances may share to record one leave order across them."""

    def __init__(self, kind: NfKind, instance: int, key_space: KeySpace,
                 config: Mapping[str, Any] | None = None,
                 defines: Mapping[str, int] | None = None, program: Program | None = None,
                 outputs: list[Output] | None = None) -> None:
        self.kind = kind
        self.instance = instance
        self._owns_program = program is None
        self.program = load(kind.program, defines=defines) if program is None else program
        self.fds = (self.program.fd, self.program.entry(kind.entries[1]))
        kind.configure(self.program)
        self.agent = DsoAgent(AgentConfig(instance, **dict(config or {})),
                              kind.schema(self.program), key_space)
        self.handler, self.nf = kind.handler(self.agent, self.program)
        self.outputs: list[Output] = [] if outputs is None else outputs
        self.dropped: list[tuple[int, bytes, int]] = []
        self.punt = PuntPath.of(self.program)
        micro: KeyedExecutor = self.agent.micro
        self.slow = SlowPath(self.punt, micro, self.handler, ListEmitter(self.outputs),
                             batch=getattr(self.nf, "handle_batch", None),
                             handoff=self.agent.handoff_wait)
        self.agent.set_handoff_listener(self.slow)

    async def start(self, bind: str = "127.0.0.1:0") -> str:
        port = await self.agent.start(bind)
        return f"{bind.rsplit(':', 1)[0]}:{port}"

    def inject(self, direction: int, frame: bytes) -> int:
        """Run one frame through the program; returns the XDP action."""
        result = run_xdp(self.fds[direction], frame)
        if result.action == XDP_REDIRECT:
            self.outputs.append((direction, result.packet))
        elif result.action != XDP_DROP:
            raise AssertionError(f"{self.kind.program}: unexpected XDP action {result.action}")
        self.slow.drain()
        return result.action

    async def settle(self) -> None:
        """Until the ring is empty and every micro-thread is idle."""
        while True:
            self.slow.drain()
            await self.agent.micro.idle()
            if not self.slow.drain():
                await asyncio.sleep(0)
                if not self.slow.drain() and not self.agent.micro.depth:
                    return

    def reasons(self) -> dict[Reason, int]:
        with ProgramStats.of(self.program) as stats:
            return stats.reason_counts()

    async def kill(self) -> None:
        """Die as a host does under SIGKILL: the agent stops abruptly (``DsoAgent.kill``),
        frames its cancelled work would still re-inject never leave, and the eBPF maps go
        with the program (the caller empties or closes it)."""
        self.slow.emitter = ListEmitter([])
        await self.agent.kill()
        self.punt.close()
        if self._owns_program:
            self.program.close()

    async def close(self) -> None:
        await self.agent.close()
        self.punt.close()
        if self._owns_program:
            self.program.close()


def punted(frame: bytes, key: bytes, seq: int = 1, direction: int = 0) -> Punted:
    return Punted(key, seq, direction, frame)
