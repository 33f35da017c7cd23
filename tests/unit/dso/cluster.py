"""In-process agents on loopback, one event loop: fast tests of the protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from s6nf.agent.dso import AgentConfig, DsoAgent, Mode, Schema
from s6nf.keyspace import initial


@asynccontextmanager
async def cluster(
    n: int, schema: Schema, mode: Mode = Mode.S6, buckets: int = 64, **config: Any
) -> AsyncIterator[list[DsoAgent]]:
    ks = initial(range(n), buckets)
    agents = [DsoAgent(AgentConfig(i, mode, **config), schema, ks) for i in range(n)]
    try:
        ports = [await a.start("127.0.0.1:0") for a in agents]
        addresses = {i: f"127.0.0.1:{p}" for i, p in enumerate(ports)}
        for a in agents:
            a.set_addresses(addresses)
        yield agents
    finally:
        for a in agents:
            await a.close()


def key_homed_at(agent: DsoAgent, home: int, start: int = 0) -> bytes:
    """Some key whose home is ``home`` in ``agent``'s current key space."""
    for i in range(start, start + 100000):
        key = i.to_bytes(4, "big")
        if agent.home_of(key) == home:
            return key
    raise AssertionError(f"no key homed at {home}")
