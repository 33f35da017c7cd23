"""Which members are dead, from their heartbeats: pure, like the rest of the core (it takes
``now`` and never reads a clock).

An agent beats from a thread of its own (``s6nf.agent.heartbeat``), so a busy event loop does
not silence it; each beat carries how long the agent's event loop had made no progress. Two
bounds follow (docs/failover.md):

- **silent** for longer than ``dead_after_s``: the process, its host or its link is gone (or
  the whole process is frozen) — the short bound;
- **wedged** for longer than ``wedged_after_s``: the process beats but its event loop has not
  run for that long (a blocking call that never returns, a runaway computation) — the
  separate, larger bound, so that a loop merely busy for a few seconds is never failed over.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Beat:
    """What the controller last heard from one member."""

    at: float
    """Controller time the last heartbeat (or the registration) arrived."""
    stalled_s: float = 0.0
    """How long the agent's event loop had made no progress when it sent that heartbeat."""
    max_stalled_s: float = 0.0
    """The longest such stall this member reported since it registered."""


def silent(beats: Mapping[int, Beat], now: float, timeout_s: float) -> list[int]:
    """Members not heard from for longer than ``timeout_s``."""
    return sorted(i for i, b in beats.items() if now - b.at > timeout_s)


def wedged(beats: Mapping[int, Beat], bound_s: float) -> list[int]:
    """Members whose last heartbeat reported an event loop stalled for longer than
    ``bound_s`` (0: never)."""
    if bound_s <= 0:
        return []
    return sorted(i for i, b in beats.items() if b.stalled_s > bound_s)


def dead(beats: Mapping[int, Beat], now: float, dead_after_s: float,
         wedged_after_s: float) -> list[int]:
    """Members to declare dead: silent for ``dead_after_s`` or wedged for ``wedged_after_s``."""
    return sorted(set(silent(beats, now, dead_after_s)) | set(wedged(beats, wedged_after_s)))


def received(previous: Beat | None, now: float, stalled_s: float) -> Beat:
    """A heartbeat arrived at ``now`` reporting ``stalled_s``."""
    if stalled_s < 0:
        raise ValueError(f"stalled_s must be >= 0, got {stalled_s}")
    longest = stalled_s if previous is None else max(previous.max_stalled_s, stalled_s)
    return Beat(now, stalled_s, longest)
