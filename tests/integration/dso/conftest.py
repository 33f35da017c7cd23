"""Agents in separate processes on loopback; each test gets fresh ones."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from s6nf.agent.dso import AgentConfig, Mode
from s6nf.agent.dso.host import AgentProcess
from s6nf.keyspace import KeySpace

SCHEMA = "tests.integration.dso.scenarios:SCHEMA"
S = "tests.integration.dso.scenarios:"
H = "s6nf.agent.dso.host:"
HOST = "127.0.0.1"

Cluster = dict[int, AgentProcess]


@contextmanager
def running(ks: KeySpace, ids: list[int], mode: Mode = Mode.S6, **cfg: float) -> Iterator[Cluster]:
    procs: Cluster = {}
    try:
        for i in ids:
            procs[i] = AgentProcess(AgentConfig(i, mode, **cfg), SCHEMA, ks, f"{HOST}:0")  # type: ignore[arg-type]
        wire(procs)
        yield procs
    finally:
        for p in procs.values():
            p.stop()


def addresses(procs: Cluster) -> dict[int, str]:
    return {i: f"{HOST}:{p.port}" for i, p in procs.items()}


def wire(procs: Cluster) -> None:
    addr = addresses(procs)
    for p in procs.values():
        p.run(H + "set_addresses", addr)


def key_homed_at(ks: KeySpace, home: int, start: int = 0) -> bytes:
    for i in range(start, start + 1_000_000):
        key = i.to_bytes(4, "big")
        if ks.home(key) == home:
            return key
    raise AssertionError(f"no key homed at {home}")
