"""Scale schedules: events at packet indices, each adding and removing instances, and
kills (an instance's agent and data path stop abruptly, as under SIGKILL).

An event says how many instances to add and remove, not which ids, and a kill names its
victim by its rank among the current members, so that any subset of a schedule's events is
still a valid schedule (what shrinking needs). ``resolve`` turns it into membership sets: new
instances take fresh ids, the lowest ids leave first (they hold the most state), at least one
instance stays, and no more than ``max_alive`` are up at once. ``timeline`` adds the kills: a
kill needs a survivor (it is dropped when one member is left), and its instance is declared
dead ``delay`` packets later or before the next event, whichever comes first.
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
class KillEvent:
    at: int
    """Before the trace's packet at this index (after the scale events at that index: the
    kill then falls inside their migration)."""
    victim: int
    """Which member dies: its rank (modulo the member count) among the members' sorted ids."""
    delay: int = 0
    """Packets sent between the kill and the failover (detection: packets steered to the
    dead instance meanwhile are lost, and peers' requests to it fail)."""

    def __post_init__(self) -> None:
        if min(self.at, self.victim, self.delay) < 0:
            raise ValueError(f"a kill is [at, victim, delay], each >= 0; got "
                             f"{[self.at, self.victim, self.delay]}")


@dataclass(frozen=True)
class Scale:
    at: int
    members: tuple[int, ...]
    """The members after the event."""


@dataclass(frozen=True)
class Kill:
    at: int
    instance: int
    declare_at: int
    """The packet index before which the failover runs (at least ``at``)."""


@dataclass(frozen=True)
class Schedule:
    start: int
    """Instances at the start (ids 0..start-1)."""
    events: tuple[ScaleEvent, ...]
    pace: int = 0
    """Event-loop turns given to the agents between two packets: 0 lets punted packets
    queue up until something waits (a scale event, or a reply that needs an output)."""
    kills: tuple[KillEvent, ...] = ()

    def resolve(self, max_alive: int) -> list[tuple[int, tuple[int, ...]]]:
        """(packet index, members after the event) for every event that changes membership."""
        return [(e.at, e.members) for e in self.timeline(max_alive) if isinstance(e, Scale)]

    def timeline(self, max_alive: int) -> list[Scale | Kill]:
        """Scale events and kills in the order they run (a kill after the scale events at
        its index), with the ids they concern."""
        members = list(range(max(1, min(self.start, max_alive))))
        fresh = len(members)
        out: list[Scale | Kill] = []
        timed: list[tuple[int, int, ScaleEvent | KillEvent]] = sorted(
            [(e.at, 0, e) for e in self.events] + [(k.at, 1, k) for k in self.kills],
            key=lambda t: (t[0], t[1]))
        for n, (at, _, ev) in enumerate(timed):
            if isinstance(ev, KillEvent):
                if len(members) < 2:
                    continue
                victim = sorted(members)[ev.victim % len(members)]
                members.remove(victim)
                later = [t[0] for t in timed[n + 1:]]
                declare = at + ev.delay if not later else min(at + ev.delay, later[0])
                out.append(Kill(at, victim, declare))
                continue
            add = max(0, min(ev.add, max_alive - len(members)))
            remove = max(0, min(ev.remove, len(members) + add - 1, len(members)))
            if not add and not remove:
                continue
            kept = sorted(members)[remove:]
            members = kept + list(range(fresh, fresh + add))
            fresh += add
            out.append(Scale(at, tuple(members)))
        return out

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"start": self.start, "pace": self.pace,
                                "events": [[e.at, e.add, e.remove] for e in self.events]}
        if self.kills:
            data["kills"] = [[k.at, k.victim, k.delay] for k in self.kills]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Schedule:
        """Raises ValueError naming what is missing or malformed."""
        try:
            return cls(int(data["start"]),
                       tuple(ScaleEvent(int(a), int(b), int(c)) for a, b, c in data["events"]),
                       int(data.get("pace", 0)),
                       tuple(KillEvent(int(a), int(v), int(d))
                             for a, v, d in data.get("kills", [])))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"a schedule is {{'start': n, 'pace': n, 'events': [[at, add, "
                             f"remove], ...], 'kills': [[at, victim, delay], ...]}} (kills "
                             f"optional); got {data!r}: {exc!r}") from None


def random_schedule(rng: random.Random, packets: int, max_alive: int,
                    max_events: int = 5, kills: int = 0) -> Schedule:
    """Out, in, several at once, back to back (same or next index), at random indices; and
    ``kills`` kills, half of them at a scale event's index (inside its migration)."""
    events: list[ScaleEvent] = []
    at = 0
    for _ in range(rng.randint(1, max_events)):
        back_to_back = rng.random() < 0.3
        at = at + rng.randint(0, 1) if back_to_back else rng.randint(0, max(0, packets - 1))
        add, remove = rng.choice([(1, 0), (0, 1), (2, 0), (0, 2), (1, 1), (2, 1), (1, 2)])
        events.append(ScaleEvent(min(at, max(0, packets - 1)), add, remove))
    dead = tuple(KillEvent(rng.choice(events).at if rng.random() < 0.5
                           else rng.randint(0, max(0, packets - 1)),
                           rng.randint(0, max_alive - 1), rng.choice([0, 0, 1, 3]))
                 for _ in range(kills))
    return Schedule(rng.randint(1, max_alive - 1), tuple(events), rng.choice([0, 0, 1, 2, 5]),
                    dead)
