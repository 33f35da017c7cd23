"""Running one scale event through its phases: prepare → switch → migrate → complete
(DESIGN.md §5), each with a timeout and an outcome. The plan comes from the pure core."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from s6nf.agent.control import key_space_to_json
from s6nf.controller.model import ScalePlan, Steer
from s6nf.keyspace import KeySpace
from s6nf.rpc import Json, JsonClient, RpcError


@dataclass(frozen=True)
class PhaseResult:
    name: str
    ok: bool
    seconds: float
    detail: str = ""


@dataclass(frozen=True)
class ScaleOutcome:
    epoch: int
    """The epoch the system is in afterwards."""
    instances: tuple[int, ...]
    moved: int
    """Buckets whose owner changed."""
    phases: tuple[PhaseResult, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.phases)

    @property
    def switched(self) -> bool:
        """Steering follows the new epoch (even if a later phase failed)."""
        return any(p.name == "switch" and p.ok for p in self.phases)

    def to_json(self) -> Json:
        return {"epoch": self.epoch, "instances": list(self.instances), "moved": self.moved,
                "ok": self.ok, "phases": [p.__dict__ for p in self.phases]}


WriteSteering = Callable[[Mapping[int, Steer]], Awaitable[None]]
PHASES = ("adopt", "prepare", "switch", "migrate", "complete")


class PhaseFailed(Exception):
    pass


async def call_all(agents: Mapping[int, JsonClient], method: str, request: Json,
               timeout_s: float) -> dict[int, Json]:
    """Call ``method`` on every agent at once; PhaseFailed names each one that failed."""
    ids = sorted(agents)

    async def one(i: int) -> Json:
        return await agents[i].call(method, request, timeout_s=timeout_s)

    results = await asyncio.gather(*(one(i) for i in ids), return_exceptions=True)
    failed = {i: r for i, r in zip(ids, results, strict=True) if isinstance(r, BaseException)}
    if failed:
        listed = "; ".join(f"agent {i}: {e}" for i, e in failed.items())
        raise PhaseFailed(f"{method} failed: {listed}")
    return {i: r for i, r in zip(ids, results, strict=True) if isinstance(r, dict)}


async def execute(plan: ScalePlan, agents: Mapping[int, JsonClient], addresses: dict[int, str],
                  write_steering: WriteSteering, timeout_s: float,
                  on_switched: Callable[[KeySpace], Awaitable[None]],
                  on_phase: Callable[[str | None], None] = lambda _: None) -> ScaleOutcome:
    """Run ``plan``; ``on_switched`` persists the new key space the moment steering follows
    it; ``on_phase`` hears each phase's name as it starts, and None at the end."""
    try:
        return await _execute(plan, agents, addresses, write_steering, timeout_s, on_switched,
                              on_phase)
    finally:
        on_phase(None)


async def _execute(plan: ScalePlan, agents: Mapping[int, JsonClient], addresses: dict[int, str],
                   write_steering: WriteSteering, timeout_s: float,
                   on_switched: Callable[[KeySpace], Awaitable[None]],
                   on_phase: Callable[[str | None], None]) -> ScaleOutcome:
    phases: list[PhaseResult] = []
    instances = tuple(sorted(plan.next.instances))
    old_epoch = plan.next.epoch if plan.current is None else plan.current.epoch
    addrs: dict[str, Any] = {str(i): a for i, a in addresses.items()}

    async def phase(name: str, body: Awaitable[Any]) -> bool:
        on_phase(name)
        start = time.monotonic()
        try:
            await asyncio.wait_for(body, timeout_s)
        except (PhaseFailed, RpcError, TimeoutError, ConnectionError, RuntimeError) as exc:
            detail = str(exc) or type(exc).__name__
            phases.append(PhaseResult(name, False, time.monotonic() - start, detail))
            return False
        phases.append(PhaseResult(name, True, time.monotonic() - start))
        return True

    async def bring_to_current() -> None:
        """Agents still in an older epoch (fresh or standby, holding nothing) adopt it."""
        current = plan.current or plan.next
        status = await call_all(agents, "Status", {}, timeout_s)
        behind = {i: agents[i] for i, s in status.items() if s["epoch"] < current.epoch}
        await call_all(behind, "Adopt", {"key_space": key_space_to_json(current),
                                     "addresses": addrs}, timeout_s)

    async def prepare() -> None:
        await call_all(agents, "Prepare", {"key_space": key_space_to_json(plan.next),
                                       "addresses": addrs}, timeout_s)

    async def switch() -> None:
        await write_steering(plan.steering)
        await on_switched(plan.next)
        await call_all(agents, "Switch", {"epoch": plan.next.epoch}, timeout_s)

    async def migrate() -> None:
        await call_all(agents, "WaitDrained", {"epoch": old_epoch, "timeout_s": timeout_s},
                   timeout_s + 1)

    async def complete() -> None:
        await call_all(agents, "Retire", {"epoch": old_epoch}, timeout_s)

    if not await phase("adopt", bring_to_current()):
        return ScaleOutcome(old_epoch, instances, len(plan.moved), tuple(phases))
    if plan.current is None:
        ok = await phase("switch", _first_install(plan, write_steering, on_switched))
        return ScaleOutcome(plan.next.epoch if ok else old_epoch, instances, len(plan.moved),
                            tuple(phases))
    for name, body in (("prepare", prepare), ("switch", switch), ("migrate", migrate),
                       ("complete", complete)):
        if not await phase(name, body()):
            break
    epoch = plan.next.epoch if any(p.name == "switch" and p.ok for p in phases) else old_epoch
    return ScaleOutcome(epoch, instances, len(plan.moved), tuple(phases))


async def _first_install(plan: ScalePlan, write_steering: WriteSteering,
                         on_switched: Callable[[KeySpace], Awaitable[None]]) -> None:
    await write_steering(plan.steering)
    await on_switched(plan.next)
