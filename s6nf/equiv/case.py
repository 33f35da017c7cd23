"""One check: a trace, a schedule and a mode, run against the reference; and its JSON form,
in which shrunk counterexamples are kept as regression cases (tests/equiv_cases/)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s6nf.agent.dso import Mode
from s6nf.equiv.compare import Violation, compare
from s6nf.equiv.compare_ids import compare_ids
from s6nf.equiv.driver import reference, run
from s6nf.equiv.pool import ProgramPool
from s6nf.equiv.schedule import Schedule
from s6nf.equiv.trace import Trace

NFS = ("nat", "monitor", "ids")
"""The NFs the checker runs (``driver.kind_named``)."""


@dataclass(frozen=True)
class Case:
    trace: Trace
    schedule: Schedule
    mode: Mode = Mode.S6
    nf: str = "nat"

    @property
    def size(self) -> tuple[int, int, int]:
        """What shrinking makes smaller: packets, events, flows."""
        return (len(self.trace.steps()), len(self.schedule.events), len(self.trace.flows))

    def to_json(self) -> dict[str, Any]:
        return {"nf": self.nf, "mode": self.mode.value, "trace": self.trace.to_json(),
                "schedule": self.schedule.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Case:
        nf = data.get("nf", "nat")
        if nf not in NFS:
            raise ValueError(f"equivalence cases exist for {', '.join(NFS)}, got nf {nf!r}")
        return cls(Trace.from_json(data["trace"]), Schedule.from_json(data["schedule"]),
                   Mode(data.get("mode", "s6")), nf)


ALERT_LOG = logging.getLogger("s6nf.ids.alerts")


class Checker:
    """Runs cases on one event loop with one pool of loaded programs (reused by every run).

    ``covered`` counts what the reference runs did that the comparison looks at (the IDS's
    alerts by sid, port scans): a campaign whose traces never trigger them checks little.
    ``costs`` counts what kills cost."""

    def __init__(self, nf: str = "nat") -> None:
        if nf not in NFS:
            raise ValueError(f"the checker runs {', '.join(NFS)}, not {nf!r}")
        self.nf = nf
        self.pool = ProgramPool(nf)
        self.loop = asyncio.new_event_loop()
        self.runs = 0
        self.covered: Counter[str] = Counter()
        self.costs: Counter[str] = Counter()
        """What the comparisons left out as kills' costs (``kill_cost``), over every run."""
        self._alert_level = ALERT_LOG.level
        if nf == "ids":
            ALERT_LOG.setLevel(logging.ERROR)

    def check(self, case: Case) -> list[Violation]:
        return self.loop.run_until_complete(self.check_async(case))

    async def check_async(self, case: Case) -> list[Violation]:
        if case.nf != self.nf:
            raise ValueError(f"a {case.nf} case given to the {self.nf} checker")
        ref = await reference(case.trace, self.pool, case.schedule.pace)
        got = await run(case.trace, case.schedule, self.pool, case.mode)
        self.runs += 1
        for alert in ref.alerts:
            self.covered[f"sid {alert['sid']}" if alert["event"] == "alert" else "portscan"] += 1
        found = (compare_ids(case.trace, ref, got) if self.nf == "ids"
                 else compare(case.trace, ref, got, self.nf))
        self.costs.update(got.cost)
        return found

    def close(self) -> None:
        if self.nf == "ids":
            ALERT_LOG.setLevel(self._alert_level)
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()
        self.pool.close()


def write_case(case: Case, violations: list[Violation], directory: Path, name: str) -> Path:
    """Keep a counterexample as ``<directory>/<name>.json``, with what it showed."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    data = case.to_json()
    data["found"] = [str(v) for v in violations[:10]]
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


def read_case(path: Path) -> tuple[Case, dict[str, Any]]:
    """The case in ``path`` and its whole JSON (``expect``, ``xfail``, ``found``…)."""
    data = json.loads(path.read_text())
    return Case.from_json(data), data
