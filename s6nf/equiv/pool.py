"""Loaded NF programs, reused across runs: compiling one costs about two seconds, a run of
the checker a fraction of that. A program goes back emptied (flow entries and punt state
deleted, the ring drained), as if freshly loaded."""

from __future__ import annotations

import ctypes as ct
from typing import Any

from s6nf.agent.loader import Program, load
from s6nf.agent.punt import PuntPath
from s6nf.agent.structs import FlowKeyC, FlowStats, NatEntry, PuntPend

DEFINES = {"MAX_FLOWS": 1024, "MAX_PEND": 1024, "PUNT_RING_PAGES": 16}
"""Small maps: a trace has tens of flows, and the agent drains the ring after every packet."""


class ProgramPool:
    def __init__(self, program: str = "nat") -> None:
        self.program = program
        self._free: list[Program] = []
        self._all: list[Program] = []

    def take(self) -> Program:
        if not self._free:
            prog = load(self.program, defines=DEFINES)
            self._all.append(prog)
            return prog
        return self._free.pop()

    def reserve(self, n: int) -> None:
        """Have ``n`` programs loaded (compiling the missing ones now): a run takes them
        while its agents share the event loop, and a compile there would stall every agent
        for seconds, long enough for their call timeouts to fire."""
        while len(self._all) < n:
            prog = load(self.program, defines=DEFINES)
            self._all.append(prog)
            self._free.append(prog)

    def give(self, prog: Program) -> None:
        empty(prog, FLOW_MAPS[self.program])
        self._free.append(prog)

    def close(self) -> None:
        for prog in self._all:
            prog.close()
        self._all.clear()
        self._free.clear()


FLOW_MAPS: dict[str, tuple[str, type[Any]]] = {"nat": ("nat_flows", NatEntry),
                                               "monitor": ("flows", FlowStats)}
"""Each program's per-flow map and its value type."""


def empty(prog: Program, flows: tuple[str, type[Any]]) -> None:
    for name, value in (flows, ("pend", PuntPend), ("released", ct.c_uint64)):
        with prog.map(name, FlowKeyC, value) as table:
            table.delete_batch(list(table.keys()))
    punt = PuntPath.of(prog)
    try:
        punt.take()
        punt.hold(frozenset(), 1)
    finally:
        punt.close()
