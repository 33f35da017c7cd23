"""Kills in the fast driver: an instance dies between two packets, as under SIGKILL with its
host's data path gone, and the survivors fail over by the controller's own steps.

The failover is ``controller.failover.execute_failover`` (takeover, steer, release, migrate,
complete) on the plan ``backup_ring.failover_key_space`` makes, and each survivor answers it
with its own control service (``agent.control.AgentControl``: the same methods and JSON as
over gRPC, called in this process). Steering is the driver's key space: the steer phase sets
it. What the kill may cost (docs/failover.md) is recorded here, for the comparison to leave
out and count: the packets at the instance when it died and those steered to it until the
failover moved its buckets, and which objects it held.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc

from s6nf.agent.control import SERVICE, AgentControl
from s6nf.agent.dso import DsoAgent
from s6nf.backup_ring import failover_key_space
from s6nf.controller.failover import FailoverOutcome, execute_failover
from s6nf.controller.model import ScalePlan, Steer
from s6nf.keyspace import KeySpace
from s6nf.rpc import Json, JsonClient, RpcError, RpcRefused

Tag = tuple[int, int, int]
PHASE_TIMEOUT_S = 10.0


@dataclass
class KillRecord:
    """One kill in a scaled run: where, and what it may cost."""

    instance: int
    at: int
    """The trace's packet index it happened before."""
    inside: set[Tag] = field(default_factory=set)
    """Packets sent to the instance that had not left it when it died."""
    steered: set[Tag] = field(default_factory=set)
    """Packets steered to it after its death, before the failover moved its buckets."""
    held: dict[str, set[bytes]] = field(default_factory=dict)
    """Map name → keys of the objects it held when it died."""
    held_flows: dict[bytes, Any] = field(default_factory=dict)
    """Its per-flow entries when it died (key → record), those it was pushing included (their
    record as a survivor's copy has it, None without one)."""
    unbacked: set[bytes] = field(default_factory=set)
    """Keys of per-flow objects of a synchronously replicated map that it held, was pushing or
    was being handed by a pull, of which no survivor had a copy when it died: lost with it.
    docs/failover.md states how: a pull's grant is backed up when the receiver's access ends,
    and an object gets its first backup after a key-space change (from one instance to two)
    by the holder's next pass. The comparison names what follows from it kind "unbacked"."""
    arriving: set[bytes] = field(default_factory=set)
    """Keys of per-flow objects on their way to it by a pull when it died."""
    in_flight_casts: int = 0
    """One-way calls made but not applied anywhere when it was declared dead: the most its
    death can have lost of them."""
    promoted: int = 0
    lost: int = 0
    """Copies the survivors promoted; objects it held that no survivor had a copy of."""


class LocalAgentClient(JsonClient):
    """The controller's client of one agent's control service, in this process: the request
    and reply go through JSON and the service's handlers as over gRPC; refusals come back as
    ``RpcError`` with the code the service would send."""

    def __init__(self, control: AgentControl) -> None:
        super().__init__(f"in-process agent {control.agent.me}", SERVICE)
        self.methods = control.methods()

    async def call(self, method: str, request: Json | None = None,
                   timeout_s: float | None = None) -> Json:
        handler = self.methods.get(method)
        if handler is None:
            raise RpcError(grpc.StatusCode.UNIMPLEMENTED, f"{SERVICE}.{method}: no such method")
        body = json.loads(json.dumps(request or {}))
        try:
            reply = await asyncio.wait_for(handler(body), timeout_s or self.timeout_s)
        except RpcRefused as exc:
            raise RpcError(exc.code, f"{SERVICE}.{method}: {exc}") from exc
        except ValueError as exc:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, f"{SERVICE}.{method}: {exc}") from exc
        except TimeoutError as exc:
            raise RpcError(grpc.StatusCode.DEADLINE_EXCEEDED,
                           f"{SERVICE}.{method}: no reply within {timeout_s} s") from exc
        result: Json = json.loads(json.dumps(reply))
        return result


async def fail_over(current: KeySpace, dead: int, survivors: Mapping[int, DsoAgent],
                    addresses: Mapping[int, str],
                    on_steered: Callable[[KeySpace], Awaitable[None]]) -> FailoverOutcome:
    """The controller's failover of ``dead`` (``ControllerApp.fail_over`` after a scale
    event, if any, was aborted): its buckets to their backups in epoch ``current.epoch + 1``.
    ``survivors`` are the owners of the new key space and the aborted event's leavers
    (``core.plan_failover``'s agents)."""
    nxt = failover_key_space(current, [dead], current.epoch + 1)
    if not set(survivors) >= set(nxt.instances):
        raise ValueError(f"failover of {dead}: survivors {sorted(survivors)} do not include "
                         f"the owners {sorted(nxt.instances)}")
    plan = ScalePlan(current, nxt, tuple(current.moved(nxt)), {}, tuple(sorted(survivors)))
    agents = {i: LocalAgentClient(AgentControl(agent)) for i, agent in survivors.items()}

    async def steer(_: Mapping[int, Steer]) -> None:
        """The driver steers by the key space ``on_steered`` installs."""

    loop = asyncio.get_running_loop()
    return await execute_failover(plan, [dead], 0.0, loop.time(), agents, dict(addresses),
                                  steer, PHASE_TIMEOUT_S, on_steered)
