"""Scale schedules as people write them: ``1@0s,2@5s,4@10s,2@15s`` (instances @ time)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

_STEP = re.compile(r"^\s*(\d+)\s*@\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*$")


@dataclass(frozen=True)
class Step:
    at_s: float
    """Seconds after the start of the run."""
    instances: int


def parse_schedule(text: str) -> list[Step]:
    """Steps in time order; the first at 0 s. Raises ValueError naming the bad step."""
    steps = []
    for part in text.split(","):
        match = _STEP.match(part)
        if not match:
            raise ValueError(f"schedule step {part.strip()!r} is not N@TIME (e.g. 2@5s)")
        count, value, unit = int(match[1]), float(match[2]), match[3] or "s"
        if count < 1:
            raise ValueError(f"schedule step {part.strip()!r}: at least one instance")
        steps.append(Step(value / 1000 if unit == "ms" else value, count))
    if steps[0].at_s != 0:
        raise ValueError(f"the schedule must start at 0s, not {steps[0].at_s}s")
    for earlier, later in pairwise(steps):
        if later.at_s <= earlier.at_s:
            raise ValueError(f"schedule times must increase: {later.at_s}s after {earlier.at_s}s")
    return steps
