"""A fuzz campaign: hostile frames through one program (and its agent's slow path), an
established flow's packets between them, and the accounting that must come out exact.

What must hold (``CampaignResult.problems`` lists what did not):
- every test run returned (no kernel error) with XDP_DROP or XDP_REDIRECT, and the kernel's
  taint flags did not change (no oops or warning);
- every frame counted under exactly one verdict reason: the program's per-reason counters
  grew by the hostile frames plus the established packets, no more, no less;
- every punted frame finished in the agent: re-injected, dropped by the NF's policy, or
  refused by the bounded queue, none failed or unreadable, and a new flow after the campaign
  is still answered;
- every established packet left on the fast path, rewritten exactly as configured.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s6nf.agent.test_run import XDP_DROP, XDP_REDIRECT
from s6nf.agent.verdicts import Reason
from s6nf.fuzz.established import EstablishedCheck
from s6nf.fuzz.frames import hostile_frames
from s6nf.fuzz.targets import target

TAINT = Path("/proc/sys/kernel/tainted")


@dataclass
class CampaignResult:
    program: str
    seed: int
    frames: int = 0
    seconds: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)
    """Hostile frames by the verdict reason the program counted (established packets out)."""
    notes: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, int] = field(default_factory=dict)
    """Hostile frames by how the generator made them."""
    actions: dict[str, int] = field(default_factory=dict)
    slow_path: dict[str, int] = field(default_factory=dict)
    nf: dict[str, int] = field(default_factory=dict)
    established: EstablishedCheck = field(default_factory=EstablishedCheck)
    taint: tuple[int, int] = (0, 0)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"program": self.program, "seed": self.seed, "frames": self.frames,
                "seconds": round(self.seconds, 2), "reasons": self.reasons,
                "notes": self.notes, "kinds": self.kinds, "actions": self.actions,
                "slow_path": self.slow_path, "nf": self.nf,
                "established": {"sent": self.established.sent,
                                "delivered": self.established.delivered},
                "taint": list(self.taint), "ok": self.ok, "problems": self.problems}


def _taint() -> int:
    return int(TAINT.read_text()) if TAINT.exists() else 0


def _delta(after: dict[Reason, int], before: dict[Reason, int]) -> dict[Reason, int]:
    return {r: n - before.get(r, 0) for r, n in after.items() if n != before.get(r, 0)}


async def run_campaign(program: str, seed: int, count: int, every: int = 10,
                       settle_every: int = 512) -> CampaignResult:
    """``count`` hostile frames through ``program`` (random direction for an NF), one
    established packet after every ``every``, the agent caught up every ``settle_every``."""
    result = CampaignResult(program, seed)
    tgt = target(program)
    try:
        await tgt.start()
        taint_before = _taint()
        before = tgt.reasons()
        slow_before = tgt.slow_path()
        directions = random.Random(seed + 1)
        actions: Counter[int] = Counter()
        kinds: Counter[str] = Counter()
        start = time.perf_counter()
        for i, (kind, frame) in enumerate(hostile_frames(seed, count)):
            actions[tgt.hostile(directions.randrange(2), frame)] += 1
            kinds[kind] += 1
            if i % every == 0:
                tgt.established(result.established.sent, result.established)
            if i % settle_every == settle_every - 1:
                await tgt.settle()
        await tgt.settle()
        result.seconds = time.perf_counter() - start
        result.frames = sum(kinds.values())
        result.kinds = dict(kinds.most_common())
        result.actions = {_action_name(a): n for a, n in sorted(actions.items())}
        delta = _delta(tgt.reasons(), before)
        slow = {k: v - slow_before.get(k, 0) for k, v in tgt.slow_path().items()}
        _account(result, delta, slow, actions)
        if slow and not await tgt.new_flow_answered():
            result.problems.append("the agent did not answer a new flow after the campaign")
        result.nf = tgt.nf()
        result.taint = (taint_before, _taint())
        if result.taint[0] != result.taint[1]:
            result.problems.append(f"the kernel's taint flags changed: {result.taint}")
    finally:
        await tgt.close()
    return result


def _account(result: CampaignResult, delta: dict[Reason, int], slow: dict[str, int],
             actions: Counter[int]) -> None:
    est = result.established
    verdicts = {r: n for r, n in delta.items() if not r.is_note}
    counted = sum(verdicts.values())
    if counted != result.frames + est.sent:
        result.problems.append(f"counted {counted:,} packets under a verdict, sent "
                               f"{result.frames:,} hostile + {est.sent:,} established")
    verdicts[Reason.FORWARD] = verdicts.get(Reason.FORWARD, 0) - est.sent
    result.reasons = {r.name.lower(): n for r, n in sorted(verdicts.items(), key=lambda kv:
                                                           -kv[1]) if n}
    result.notes = {r.name.lower(): n for r, n in sorted(delta.items()) if r.is_note}
    odd = {a: n for a, n in actions.items() if a not in (XDP_DROP, XDP_REDIRECT)}
    if odd:
        result.problems.append(f"unexpected XDP actions {odd}")
    if est.delivered != est.sent:
        result.problems.append(f"established flow: {est.delivered:,} of {est.sent:,} packets "
                               f"left as they must; first wrong: {est.first_wrong}")
    if slow:
        result.slow_path = slow
        punted = delta.get(Reason.PUNTED, 0)
        finished = slow["reinjected"] + slow["dropped_by_nf"] + slow["overflowed"]
        if slow["punted"] != punted or finished != punted:
            result.problems.append(f"punted {punted:,} by the kernel, taken {slow['punted']:,} "
                                   f"and finished {finished:,} by the agent")
        for bad in ("failed", "malformed", "micro_thread_failures"):
            if slow[bad]:
                result.problems.append(f"the agent counted {slow[bad]:,} {bad}")


def _action_name(action: int) -> str:
    return {XDP_DROP: "drop", XDP_REDIRECT: "redirect"}.get(action, f"action {action}")
