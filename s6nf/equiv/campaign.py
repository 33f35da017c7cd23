"""Randomized campaigns: hypothesis draws (trace, schedule) cases, the checker runs each,
and the first counterexample is shrunk (fewer flows, packets and events, earlier events,
less pace) and can be written out as a regression case.

A run is not perfectly repeatable (the agents talk over real sockets), so the smallest case
that failed while shrinking is kept, whatever hypothesis concludes about flakiness.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from s6nf.agent.dso import Mode
from s6nf.equiv.case import Case, Checker, write_case
from s6nf.equiv.compare import Violation
from s6nf.equiv.driver import MAX_ALIVE
from s6nf.equiv.schedule import KillEvent, ScaleEvent, Schedule
from s6nf.equiv.trace import FlowSpec, Trace, script

MAX_FLOWS = 6
MAX_EVENTS = 5
MAX_KILLS = 2


class Counterexample(AssertionError):
    pass


@st.composite
def cases(draw: st.DrawFn, mode: Mode = Mode.S6, nf: str = "nat", kills: bool = False) -> Case:
    ids = nf == "ids"
    marks = st.integers(0, 0xFFFF) if ids else st.just(0)
    specs = draw(st.lists(st.builds(FlowSpec, st.booleans(), st.integers(0, 5),
                                    st.integers(0, 127), marks),
                          min_size=1, max_size=MAX_FLOWS))
    order = [i for i, spec in enumerate(specs) for _ in script(i, spec)]
    picks = draw(st.permutations(order))
    salt = draw(st.integers(0, 0xFFFF))
    trace = Trace(tuple(specs), tuple(picks), salt, draw(st.integers(1, 3)) if ids else 0)
    gaps = draw(st.lists(st.tuples(st.integers(0, len(order) - 1), st.integers(0, 2),
                                   st.integers(0, 2)), min_size=1, max_size=MAX_EVENTS))
    at, events = 0, []
    for gap, add, remove in gaps:
        at = min(at + gap, len(order) - 1)
        events.append(ScaleEvent(at, add, remove))
    dead: list[KillEvent] = []
    if kills:
        for _ in range(draw(st.integers(1, MAX_KILLS))):
            inside = draw(st.booleans())
            when = (draw(st.sampled_from(events)).at if inside
                    else draw(st.integers(0, len(order) - 1)))
            dead.append(KillEvent(when, draw(st.integers(0, MAX_ALIVE - 1)),
                                  draw(st.sampled_from((0, 0, 1, 3)))))
    schedule = Schedule(draw(st.integers(1, MAX_ALIVE - 1)), tuple(events),
                        draw(st.integers(0, 5)), tuple(dead))
    return Case(trace, schedule, mode, nf)


@dataclass
class Report:
    mode: Mode
    seed: int
    generated: int = 0
    """Cases drawn and checked before the first counterexample (or all of them)."""
    shrink_runs: int = 0
    seconds: float = 0.0
    tolerated: int = 0
    """Cases whose every violation was of a tolerated kind (counted, not stopped at)."""
    smallest: tuple[Case, list[Violation]] | None = None
    failures: list[tuple[Case, list[Violation]]] = field(default_factory=list)
    written: Path | None = None

    def summary(self) -> str:
        head = (f"{self.mode.value}: {self.generated} schedules checked in {self.seconds:.1f} s "
                f"(seed {self.seed})")
        if self.tolerated:
            head += f", {self.tolerated} with tolerated violations only"
        if self.smallest is None:
            return head + ", no violation"
        case, found = self.smallest
        packets, events, flows = case.size
        lines = [head + f", counterexample found; {self.shrink_runs} more runs shrank it to "
                        f"{packets} packets of {flows} flows, {events} events:",
                 f"  schedule {case.schedule.to_json()}"]
        lines += [f"  {v}" for v in found[:8]]
        if self.written is not None:
            lines.append(f"  written to {self.written}")
        return "\n".join(lines)


def campaign(checker: Checker, schedules: int, mode: Mode = Mode.S6, seed: int = 0,
             shrink: bool = True, out: Path | None = None,
             progress: Callable[[int], None] | None = None,
             tolerate: frozenset[str] = frozenset(), kills: bool = False) -> Report:
    """Check up to ``schedules`` random cases; stop at the first counterexample, shrink it
    (if ``shrink``) and write the smallest failing case into ``out`` (if given).

    ``tolerate``: violation kinds (``Violation.kind``) of a known, unfixed bug; a case that
    shows only those is counted in ``Report.tolerated`` and the campaign goes on, looking
    for anything else. ``kills``: every schedule also kills one or two instances, during
    normal traffic or inside a scale event's migration (docs/equivalence.md)."""
    report = Report(mode, seed)
    start = time.monotonic()

    @settings(max_examples=schedules, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), report_multiple_bugs=False,
              phases=(Phase.generate, Phase.shrink) if shrink else (Phase.generate,),
              verbosity=Verbosity.quiet)
    @hypothesis_seed(seed)
    @given(cases(mode, checker.nf, kills))
    def check(case: Case) -> None:
        if report.failures:
            report.shrink_runs += 1
        else:
            report.generated += 1
            if progress is not None:
                progress(report.generated)
        found = checker.check(case)
        if found and all(v.kind in tolerate for v in found):
            if not report.failures:
                report.tolerated += 1
            return
        if found:
            report.failures.append((case, found))
            raise Counterexample(f"{len(found)} violations")

    try:
        check()
    except Exception:
        if not report.failures:
            raise
    report.seconds = time.monotonic() - start
    if report.failures:
        report.smallest = min(report.failures, key=lambda f: f[0].size)
        if out is not None:
            case, found = report.smallest
            report.written = write_case(case, found, out,
                                        f"{checker.nf}-{mode.value}-seed{seed}")
    return report
