"""Running one failover: dead instances' buckets to their backups (docs/failover.md).

Phases, each with a timeout: **takeover** (every survivor pauses accesses, takes the new key
space, promotes the copies it kept and pushes what must move to its new home), **steer**
(one P4Runtime batch moves the dead instances' buckets to their backups, the state file
records the new epoch), **release** (accesses go on everywhere; sent whenever a takeover
began), **migrate** (until every survivor reports drained), **complete** (they retire the
epoch before). Taking over before steering means the first packet a backup gets of a dead
instance's flow finds its entry already there; steering goes ahead even if a survivor failed
to take over (the dead instance's buckets lead nowhere otherwise). The plan comes from the
pure core (``plan_failover``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from s6nf.agent.control import key_space_to_json
from s6nf.controller.model import ScalePlan
from s6nf.controller.scaler import PhaseFailed, PhaseResult, WriteSteering, call_all
from s6nf.keyspace import KeySpace
from s6nf.rpc import Json, JsonClient, RpcError

FAILOVER_PHASES = ("takeover", "steer", "release", "migrate", "complete")


@dataclass(frozen=True)
class FailoverOutcome:
    dead: tuple[int, ...]
    """The instances declared dead."""
    epoch: int
    """The epoch steering follows afterwards."""
    moved: int
    """Buckets re-steered to backups."""
    silent_s: float
    """How long the longest-silent dead instance had not been heard from when declared (for
    one declared wedged, how long its event loop had been stalled, if longer)."""
    phases: tuple[PhaseResult, ...] = field(default_factory=tuple)
    promoted: int = 0
    """Copies the survivors made live."""
    lost: int = 0
    """Objects the dead held that no survivor had a copy of."""
    declared_at: float = 0.0
    """The controller's monotonic clock when the instances were declared dead."""

    @property
    def steered_at(self) -> float:
        """When steering followed the backups (the dead instances' traffic resumed)."""
        return self.declared_at + self.seconds("takeover") + self.seconds("steer")

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.phases)

    def seconds(self, phase: str) -> float:
        return sum(p.seconds for p in self.phases if p.name == phase)

    @classmethod
    def from_json(cls, data: Json) -> FailoverOutcome:
        """What ``to_json`` wrote (``Status`` lists the failovers a controller ran)."""
        return cls(tuple(int(i) for i in data["dead"]), int(data["epoch"]), int(data["moved"]),
                   float(data["silent_s"]), tuple(PhaseResult(**p) for p in data["phases"]),
                   int(data["promoted"]), int(data["lost"]), float(data["declared_at"]))

    def to_json(self) -> Json:
        return {"dead": list(self.dead), "epoch": self.epoch, "moved": self.moved,
                "silent_s": self.silent_s, "ok": self.ok, "promoted": self.promoted,
                "lost": self.lost, "declared_at": self.declared_at,
                "phases": [p.__dict__ for p in self.phases]}


async def execute_failover(plan: ScalePlan, dead: list[int], silent_s: float, declared_at: float,
                           agents: Mapping[int, JsonClient], addresses: dict[int, str],
                           write_steering: WriteSteering, timeout_s: float,
                           on_steered: Callable[[KeySpace], Awaitable[None]]) -> FailoverOutcome:
    """Run ``plan`` (from ``core.plan_failover``); ``agents`` are the survivors."""
    phases: list[PhaseResult] = []
    addrs: dict[str, Any] = {str(i): a for i, a in addresses.items()}
    counts = {"promoted": 0, "lost": 0}
    before = plan.next.epoch - 1

    async def phase(name: str, body: Awaitable[Any]) -> bool:
        start = time.monotonic()
        try:
            await body
        except (PhaseFailed, RpcError, TimeoutError, ConnectionError, RuntimeError) as exc:
            phases.append(PhaseResult(name, False, time.monotonic() - start,
                                      str(exc) or type(exc).__name__))
            return False
        phases.append(PhaseResult(name, True, time.monotonic() - start))
        return True

    async def steer() -> None:
        await write_steering(plan.steering)
        await on_steered(plan.next)

    async def takeover() -> None:
        replies = await call_all(agents, "Failover", {
            "key_space": key_space_to_json(plan.next), "dead": dead, "addresses": addrs},
            timeout_s)
        counts["promoted"] = sum(int(r.get("promoted", 0)) for r in replies.values())
        counts["lost"] = sum(int(r.get("lost", 0)) for r in replies.values())

    async def release() -> None:
        await call_all(agents, "EndTakeover", {}, timeout_s)

    async def migrate() -> None:
        await call_all(agents, "WaitDrained", {"epoch": before, "timeout_s": timeout_s},
                       timeout_s + 1)

    async def complete() -> None:
        await call_all(agents, "Retire", {"epoch": before}, timeout_s)

    took = await phase("takeover", takeover())
    steered = await phase("steer", steer())
    if await phase("release", release()) and took and steered:
        for name, body in (("migrate", migrate), ("complete", complete)):
            if not await phase(name, body()):
                break
    epoch = plan.next.epoch if steered else before
    return FailoverOutcome(tuple(dead), epoch, len(plan.moved), silent_s, tuple(phases),
                           counts["promoted"], counts["lost"], declared_at)
