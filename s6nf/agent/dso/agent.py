"""``DsoAgent``: the distributed shared object space runtime of one NF instance."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, TypeVar

from s6nf.agent.dso.config import AgentConfig
from s6nf.agent.dso.maps import MwMap, Schema, SwMap
from s6nf.agent.dso.microthreads import KeyedExecutor
from s6nf.agent.dso.migration import MigrationMixin
from s6nf.agent.dso.multiwriter import MultiWriterMixin, MwHandle
from s6nf.agent.dso.singlewriter import SingleWriterMixin, SwHandle
from s6nf.agent.dso.takeover import TakeoverMixin
from s6nf.keyspace import KeySpace

V = TypeVar("V")


class DsoAgent(TakeoverMixin, SingleWriterMixin, MultiWriterMixin, MigrationMixin):
    """One agent: serves the state channel, hosts objects, follows the controller's epochs.

    Use as ``async with DsoAgent(config, schema, key_space, addresses) as agent:`` after
    ``await agent.start(bind)``, or call ``start``/``close`` yourself.
    """

    def __init__(
        self,
        config: AgentConfig,
        schema: Schema,
        key_space: KeySpace,
        addresses: Mapping[int, str] | None = None,
    ) -> None:
        super().__init__(config, schema, key_space)
        self.micro = KeyedExecutor(config.max_key_queue)
        """Per-key FIFO micro-threads for the NF's slow path."""
        if addresses:
            self.channel.set_addresses(addresses)

    async def start(self, bind: str) -> int:
        """Serve the state channel on ``bind`` ("host:port"); returns the bound port, and
        start replicating (``AgentConfig.replicas``)."""
        port = await self.channel.start(bind)
        self.start_replicating()
        return port

    def set_addresses(self, addresses: Mapping[int, str]) -> None:
        self.channel.set_addresses(addresses)

    async def close(self) -> None:
        self.micro.cancel()
        for task in list(self._tasks):
            task.cancel()
        await self.channel.close()

    async def kill(self) -> None:
        """Stop abruptly, as under SIGKILL: micro-threads and tasks are cancelled, nothing
        buffered is flushed, nothing received after this is applied (``StateChannel.abort``).
        What it held lives on only in its backups (docs/failover.md)."""
        self.micro.cancel()
        for task in list(self._tasks):
            task.cancel()
        await self.channel.abort()

    async def __aenter__(self) -> DsoAgent:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def sw(self, decl: SwMap[V]) -> SwHandle[V]:
        return SwHandle(self, self._state(decl.map_id, decl))

    def mw(self, decl: MwMap[V]) -> MwHandle[V]:
        return MwHandle(self, self._state(decl.map_id, decl), decl)

    def _state(self, map_id: int, decl: Any) -> Any:
        ms = self.maps.get(map_id)
        if ms is None or ms.decl is not decl:
            raise KeyError(f"map {decl.name!r} (id {map_id}) is not in this agent's schema")
        return ms
