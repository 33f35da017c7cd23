"""The NAT's public ports: sharded MultiWriter objects that lease blocks to instances.

The port range is cut into ``shards`` equal slices; shard *i* is an object homed wherever its
key hashes. An instance leases a block of ports from a shard (a strict call: the shard hands
each port to one lease at a time) and allocates from its block locally; a freed port goes back
to its shard (an untether call), never straight to a local list, so a port is never in two
places. No port is used by two live flows: a port leaves a shard in one lease, serves one flow
at a time, and returns only when that flow's entries are gone.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from s6nf.agent.dso import BytesKey, DsoError, MwMap, untether
from s6nf.agent.dso.agent import DsoAgent

log = logging.getLogger(__name__)


class PortShard:
    """One slice of the public port range; created empty, filled on first lease."""

    def __init__(self) -> None:
        self.free: list[int] = []
        self.started = False

    def lease(self, first: int, last: int, count: int) -> list[int]:
        if not self.started:
            self.free = list(range(last, first - 1, -1))
            self.started = True
        taken = self.free[-count:] if count else []
        del self.free[len(self.free) - len(taken):]
        return taken

    @untether
    def give_back(self, ports: list[int]) -> None:
        self.free.extend(ports)

    def available(self) -> int:
        return len(self.free)


@dataclass(frozen=True)
class PortRange:
    first: int = 1024
    last: int = 65535
    shards: int = 16
    lease: int = 64
    """Ports taken from a shard at a time."""

    def __post_init__(self) -> None:
        if not 1 <= self.first <= self.last <= 65535:
            raise ValueError(f"public port range [{self.first}, {self.last}] is not within "
                             "[1, 65535]")
        if not 1 <= self.shards <= self.last - self.first + 1:
            raise ValueError(f"{self.shards} shards for {self.last - self.first + 1} ports")
        if self.lease < 1:
            raise ValueError(f"a lease is at least one port, got {self.lease}")

    def shard_of(self, port: int) -> int:
        if not self.first <= port <= self.last:
            raise ValueError(f"port {port} is outside [{self.first}, {self.last}]")
        return min((port - self.first) * self.shards // (self.last - self.first + 1),
                   self.shards - 1)

    def bounds(self, shard: int) -> tuple[int, int]:
        size = self.last - self.first + 1
        lo = self.first + -(-shard * size // self.shards)
        hi = self.first + -(-(shard + 1) * size // self.shards) - 1
        return lo, hi


def shard_key(shard: int) -> BytesKey:
    return BytesKey(b"natport" + shard.to_bytes(2, "big"))


class PortAllocator:
    """An instance's leased ports; leases more from the shards as it runs out."""

    def __init__(self, agent: DsoAgent, pool: MwMap[PortShard], ports: PortRange) -> None:
        self.pool = agent.mw(pool)
        self.ports = ports
        self.local: list[int] = []
        self._next_shard = agent.me % ports.shards
        self._leasing: asyncio.Lock = asyncio.Lock()
        self.exhausted = 0

    async def allocate(self) -> int | None:
        """A port no live flow uses, or None when every shard is empty. One lease is in
        flight at a time: flows that run out meanwhile wait for it instead of draining
        every shard at once."""
        if not self.local:
            async with self._leasing:
                if not self.local:
                    await self._lease()
        if not self.local:
            self.exhausted += 1
            return None
        return self.local.pop()

    async def _lease(self) -> None:
        for _ in range(self.ports.shards):
            shard = self._next_shard
            first, last = self.ports.bounds(shard)
            try:
                got: list[int] = await self.pool.call(shard_key(shard), PortShard.lease, first,
                                                      last, self.ports.lease)
            except DsoError as exc:
                # Its home is unreachable (dead, until the failover): try the next shard.
                log.warning("NAT: shard %d unavailable: %s", shard, exc)
                got = []
            if got:
                self.local.extend(reversed(got))
                return
            self._next_shard = (shard + 1) % self.ports.shards

    def free(self, port: int) -> None:
        shard = self.ports.shard_of(port)
        self.pool.cast(shard_key(shard), PortShard.give_back, [port])
