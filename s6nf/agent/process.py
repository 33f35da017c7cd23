"""``s6nf agent run``: one NF instance's agent — the DSO runtime, its control service, and
registration and heartbeats with the controller.

A fresh agent acts in a bootstrap epoch 0 in which it homes everything itself and holds
nothing; the controller brings it into the current epoch with ``Adopt`` when it is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import grpc

from s6nf.agent.control import AgentControl
from s6nf.agent.dso.agent import DsoAgent
from s6nf.agent.dso.config import AgentConfig, Mode
from s6nf.agent.dso.host import resolve
from s6nf.agent.dso.maps import Schema
from s6nf.keys import DEFAULT_BUCKETS
from s6nf.keyspace import KeySpace
from s6nf.rpc import JsonClient, RpcError

log = logging.getLogger(__name__)
CONTROLLER_SERVICE = "s6nf.Controller"


@dataclass(frozen=True)
class AgentSettings:
    instance: int
    """This instance's id in the key space."""
    controller: str
    """host:port of the controller's API."""
    advertise: str
    """Host (address) peers and the controller use to reach this agent; never assumed."""
    port: int
    """Steering port towards this instance."""
    dmac: str
    """This instance's MAC on the data path."""
    control_port: int = 0
    """Port of the control service (0: any free one)."""
    state_port: int = 0
    """Port of the state channel (0: any free one)."""
    heartbeat_s: float = 0.2
    buckets: int = DEFAULT_BUCKETS
    schema: str = ""
    """``package.module:NAME`` of the NF's Schema; empty for an agent without objects."""
    mode: Mode = Mode.S6


def load_schema(ref: str) -> Schema:
    if not ref:
        return Schema([])
    schema = resolve(ref)
    if not isinstance(schema, Schema):
        raise ValueError(f"{ref} is a {type(schema).__name__}, not a Schema")
    return schema


class AgentProcess:
    """Runs until cancelled; ``ready`` is set once registered with the controller."""

    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings
        s = settings
        self.dso = DsoAgent(AgentConfig(s.instance, mode=s.mode), load_schema(s.schema),
                            KeySpace(0, (s.instance,) * s.buckets))
        self.control = AgentControl(self.dso)
        self.ready = asyncio.Event()
        self._server: grpc.aio.Server | None = None
        self._controller = JsonClient(s.controller, CONTROLLER_SERVICE, timeout_s=2.0)

    async def run(self) -> None:
        s = self.settings
        state_port = await self.dso.start(f"{s.advertise}:{s.state_port}")
        self._server = grpc.aio.server()
        self._server.add_generic_rpc_handlers((self.control.handler(),))
        control_port = self._server.add_insecure_port(f"{s.advertise}:{s.control_port}")
        await self._server.start()
        member = {"instance": s.instance, "control": f"{s.advertise}:{control_port}",
                  "state": f"{s.advertise}:{state_port}", "port": s.port, "dmac": s.dmac}
        try:
            await self._keep_registered(member)
        finally:
            await self._server.stop(grace=0.5)
            await self._controller.close()
            await self.dso.close()

    async def _keep_registered(self, member: dict[str, object]) -> None:
        registered = False
        while True:
            try:
                if not registered:
                    await self._controller.call("Register", member)
                    registered = True
                    self.ready.set()
                    log.info("agent %d registered with %s", self.settings.instance,
                             self.settings.controller)
                else:
                    await self._controller.call("Heartbeat", {"instance": member["instance"]})
            except RpcError as exc:
                if exc.code == grpc.StatusCode.NOT_FOUND:
                    registered = False
                    continue
                if exc.code == grpc.StatusCode.INVALID_ARGUMENT:
                    raise
                log.warning("agent %d: controller unreachable (%s); the data plane runs on",
                            self.settings.instance, exc.code.name)
            await asyncio.sleep(self.settings.heartbeat_s)


async def serve(settings: AgentSettings) -> None:
    process = AgentProcess(settings)
    with contextlib.suppress(asyncio.CancelledError):
        await process.run()
