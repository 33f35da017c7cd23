"""``s6nf equiv``: a randomized output-equivalence campaign, or one case replayed."""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any

from s6nf.agent.dso import Mode


def add_parser(sub: Any) -> None:
    p = sub.add_parser("equiv", help="check that scaled runs emit what one instance emits, "
                                     "on random scale schedules (docs/equivalence.md)")
    p.add_argument("--nf", choices=["nat", "monitor", "ids"], default="nat",
                   help="the NF to check (monitor: the asset monitor)")
    p.add_argument("--schedules", type=int, default=1000,
                   help="random (trace, schedule) cases to check (default 1000)")
    p.add_argument("--mode", choices=[m.value for m in Mode], default=Mode.S6.value,
                   help="the agents' mode (default s6; local-only must fail)")
    p.add_argument("--seed", type=int, default=None, help="campaign seed (default: random)")
    p.add_argument("--no-shrink", dest="shrink", action="store_false",
                   help="report the first counterexample as found")
    p.add_argument("--out", type=Path, default=Path("tests/equiv_cases"),
                   help="where a shrunk counterexample is written (default tests/equiv_cases)")
    p.add_argument("--tolerate", action="append", default=[], metavar="KIND",
                   help="a violation kind of a known bug (e.g. order) to count and go past, "
                        "looking for others; repeatable")
    p.add_argument("--kills", action="store_true",
                   help="every random schedule also kills one or two instances abruptly, in "
                        "normal traffic or inside a scale event's migration; the survivors "
                        "fail over (docs/equivalence.md, Kills)")
    p.add_argument("--case", type=Path, default=None,
                   help="replay this case file instead of running a campaign")
    tb = p.add_argument_group("testbed", "the same check on real traffic through gen → sw → "
                                         "nf* → sink (root; docs/equivalence.md)")
    tb.add_argument("--testbed", action="store_true",
                    help="run one trace through one instance, then under --schedule, and "
                         "compare what the sink received and the final NF state")
    tb.add_argument("--schedule", default="1@0s,2@1s,1@2s",
                    help="instances @ time of the scaled run (default 1@0s,2@1s,1@2s)")
    tb.add_argument("--flows", type=int, default=400, help="flows in the trace (default 400)")
    tb.add_argument("--rate", type=int, default=2000,
                    help="replay rate in packets/s (default 2000)")
    tb.add_argument("--name", default="s6eq", help="testbed name (default s6eq)")
    tb.add_argument("--results", type=Path, default=Path("equiv-testbed"),
                    help="where the bench harness writes both runs' results "
                         "(default equiv-testbed/)")


def run_testbed(args: argparse.Namespace) -> int:
    from s6nf.equiv.testbed import TestbedCheck, run_check

    check = TestbedCheck(args.nf, args.schedule, args.results, args.mode, args.flows,
                         args.rate, args.seed if args.seed is not None else 1, args.name)
    found, _ = run_check(check)
    for v in found:
        print(v)
    print(f"testbed {args.nf} ({args.mode}, {args.schedule}) against one instance: "
          f"{len(found)} violations")
    return 2 if found else 0


def run(args: argparse.Namespace) -> int:
    from s6nf.equiv.campaign import campaign
    from s6nf.equiv.case import Checker, read_case

    if args.testbed:
        return run_testbed(args)
    checker = Checker(args.nf)
    try:
        if args.case is not None:
            case, _ = read_case(args.case)
            if case.nf != checker.nf:
                checker.close()
                checker = Checker(case.nf)
            found = checker.check(case)
            for v in found:
                print(v)
            print(f"{args.case}: {len(found)} violations ({case.mode.value})")
            return 2 if found else 0
        seed = args.seed if args.seed is not None else random.randrange(1 << 32)

        def progress(done: int) -> None:
            if done % 50 == 0:
                print(f"  {done} schedules checked", file=sys.stderr, flush=True)

        report = campaign(checker, args.schedules, Mode(args.mode), seed, args.shrink,
                          args.out, progress, frozenset(args.tolerate), args.kills)
        print(report.summary())
        if checker.costs:
            print("  kills cost (left out of the comparison): " + ", ".join(
                f"{what}: {n}" for what, n in sorted(checker.costs.items())))
        if checker.covered:
            print("  reference runs raised: " + ", ".join(
                f"{what}: {n}" for what, n in sorted(checker.covered.items())))
        return 2 if report.smallest is not None else 0
    finally:
        checker.close()
