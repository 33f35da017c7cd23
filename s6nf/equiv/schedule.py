"""Scale schedules: events at packet indices, each adding and removing instances.

An event says how many instances to add and remove, not which ids, so that any subset of a
schedule's events is still a valid schedule (what shrinking needs). ``resolve`` turns it into
membership sets: new instances take fresh ids, the lowest ids leave first (they hold the
most state), at least one instance stays, and no more than ``max_alive`` are up at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ScaleEvent:
    at: int
    """Before the trace's packet at this index (events at one index run back to back)."""
    add: int
    remove: int


@dataclass(frozen=True)
class Schedule:
    start: int
    """Instances at the start (ids 0..start-1)."""
    events: tuple[ScaleEvent, ...]
    pace: int = 0
    """Event-loop turns given to the agents between two packets: 0 lets punted packets
    queue up until something waits (a scale event, or a reply that needs an output)."""

    def resolve(self, max_alive: int) -> list[tuple[int, tuple[int, ...]]]:
        """(packet index, members after the event) for every event that changes membership."""
        members = list(range(max(1, min(self.start, max_alive))))
        fresh = len(members)
        out: list[tuple[int, tuple[int, ...]]] = []
        for ev in sorted(self.events, key=lambda e: e.at):
            add = max(0, min(ev.add, max_alive - len(members)))
            remove = max(0, min(ev.remove, len(members) + add - 1, len(members)))
            if not add and not remove:
                continue
            kept = sorted(members)[remove:]
            members = kept + list(range(fresh, fresh + add))
            fresh += add
            out.append((ev.at, tuple(members)))
        return out

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start, "pace": self.pace,
                "events": [[e.at, e.add, e.remove] for e in self.events]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Schedule:
        """Raises ValueError naming what is missing or malformed."""
        try:
            return cls(int(data["start"]),
                       tuple(ScaleEvent(int(a), int(b), int(c)) for a, b, c in data["events"]),
                       int(data.get("pace", 0)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"a schedule is {{'start': n, 'pace': n, 'events': [[at, add, "
                             f"remove], ...]}}; got {data!r}: {exc!r}") from None


def random_schedule(rng: random.Random, packets: int, max_alive: int,
                    max_events: int = 5) -> Schedule:
    """Out, in, several at once, back to back (same or next index), at random indices."""
    events: list[ScaleEvent] = []
    at = 0
    for _ in range(rng.randint(1, max_events)):
        back_to_back = rng.random() < 0.3
        at = at + rng.randint(0, 1) if back_to_back else rng.randint(0, max(0, packets - 1))
        add, remove = rng.choice([(1, 0), (0, 1), (2, 0), (0, 2), (1, 1), (2, 1), (1, 2)])
        events.append(ScaleEvent(min(at, max(0, packets - 1)), add, remove))
    return Schedule(rng.randint(1, max_alive - 1), tuple(events), rng.choice([0, 0, 1, 2, 5]))
