"""``s6nf demo``: the NAT scaling out and in under load, in ``s6`` and ``stop-and-copy`` mode,
each compared with a single-instance run of the same trace; a summary a person can read.

Sized for a small machine (two shared cores, under two minutes in all): the NAT's Python slow
path handles a few thousand new flows per second per agent, so the trace opens its flows over
a ramp and makes them long (heavy-tailed, 100 packets on average) to keep the new-flow rate
far below that, and the load on what the demo is about: established flows while their state
moves.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from s6nf.harness.compare import NORMAL, SCALING, lost, unsent
from s6nf.harness.report import latency_cell
from s6nf.harness.runner import TAIL_S, flows_for, run_modes
from s6nf.harness.schedule import parse_schedule
from s6nf.harness.spec import BenchSpec
from s6nf.testbed.workload import Distribution

SCHEDULE = "1@0s,2@3s,1@6s"
RATE_PPS = 4000
CONCURRENCY = 200
RAMP_S = 1.0
FLOW_SIZE = Distribution("pareto", 100.0, 1.2)
MODES = ("s6", "stop-and-copy")


def spec(name: str, out: Path) -> BenchSpec:
    schedule = parse_schedule(SCHEDULE)
    flows = flows_for(RATE_PPS * (schedule[-1].at_s + TAIL_S), flow_size=FLOW_SIZE)
    return BenchSpec(schedule, RATE_PPS, flows, min(CONCURRENCY, flows), out, name, nf="nat",
                     ramp_s=RAMP_S, flow_size=FLOW_SIZE)


def run(name: str, out: Path, progress: Callable[[str], None] = print) -> dict[str, Any]:
    results: dict[str, Any] = run_modes(spec(name, out), MODES, progress, single_reference=True)
    return results


def _latency(run_: Mapping[str, Any], phase: str, p: str) -> float | None:
    lat = run_["measured"]["latency_ns_by_phase"].get(phase)
    return float(lat[p]) if lat and p in lat else None


def _times(a: float | None, b: float | None) -> str:
    return f"{a / b:,.1f} times" if a is not None and b else "n/a (no samples)"


def _pair(counts: tuple[int, int] | None) -> str:
    return "—" if counts is None else f"{counts[0]:,} ({counts[1]:,})"


def kept_promises(results: Mapping[str, Any]) -> bool:
    """s6 lost nothing, reordered nothing, and its output equals the single-instance run's."""
    s6 = results["modes"]["s6"]
    eq = s6.get("equivalence")
    return (lost(s6)[0] == 0 and s6["measured"]["reordered"] == 0
            and not (unsent(s6) or (0, 0))[0]
            and (eq is None or eq["equal"]))


def summary(results: Mapping[str, Any], out: Path) -> list[str]:
    """The demo's closing lines: a table of the modes, the ratios, what was compared with the
    single-instance run, where the plots are."""
    modes: Mapping[str, Mapping[str, Any]] = results["modes"]
    w = results["workload"]
    rows: list[tuple[str, list[str]]] = [
        ("lost packets (flows)", [_pair(lost(r)) for r in modes.values()]),
        ("under a key never sent (flows)", [_pair(unsent(r)) for r in modes.values()]),
        ("reordered packets (flows)", [
            f"{r['measured']['reordered']:,} ({r['measured']['flows_reordered']})"
            for r in modes.values()]),
        ("latency p50/p99/p99.9, normal (µs)", [latency_cell(r, NORMAL) for r in modes.values()]),
        ("latency p50/p99/p99.9, scaling (µs)", [latency_cell(r, SCALING)
                                                 for r in modes.values()]),
        ("scale events took (ms)", [", ".join(f"{e['seconds'] * 1e3:.0f}" for e in r["events"])
                                    for r in modes.values()]),
        ("equals the 1-instance run", [
            "yes" if r["equivalence"]["equal"]
            else f"no ({r['equivalence']['flows_differing']} flows differ)"
            for r in modes.values()]),
    ]
    label_w = max(len(label) for label, _ in rows)
    widths = [max(len(name), *(len(cells[i]) for _, cells in rows))
              for i, name in enumerate(modes)]
    lines = ["", f"NAT under {results['schedule']} (instances@time): {w['packets']:,} packets "
             f"of {w['flows']:,} flows, up to {w['concurrency']} at once, at "
             f"{results['rate_pps']:,} pps", "",
             " " * label_w + "  " + "  ".join(n.rjust(wd) for n, wd in zip(modes, widths,
                                                                              strict=True))]
    lines += [label.ljust(label_w) + "  " + "  ".join(c.rjust(wd) for c, wd in
                                                      zip(cells, widths, strict=True))
              for label, cells in rows]
    s6, snc = modes.get("s6"), modes.get("stop-and-copy")
    if s6 is not None and snc is not None:
        lines += ["", "During scale events, stop-and-copy ÷ s6: p99 "
                  f"{_times(_latency(snc, SCALING, 'p99'), _latency(s6, SCALING, 'p99'))}, p50 "
                  f"{_times(_latency(snc, SCALING, 'p50'), _latency(s6, SCALING, 'p50'))}; "
                  "s6's p50 during scale events ÷ in normal operation: "
                  f"{_times(_latency(s6, SCALING, 'p50'), _latency(s6, NORMAL, 'p50'))}"]
    compared = next(iter(modes.values()))["equivalence"]["flows_compared"]
    lines += ["", f"Compared with one instance and no scale event on the same trace: for each of "
              f"the {compared:,} flows, the packets the sink received and how many arrived after "
              "a later packet of the same flow (each carries its flow's sequence number from "
              "gen, so equal counts with none out of order mean the same packets in the same "
              "order). The NAT's public ports are chosen per run and are not compared.",
              "", f"Plots: {out}/throughput.png, {out}/latency_cdf.png, {out}/modes.png "
              f"(every figure in {out}/results.json and summary.md)"]
    return [wrapped for line in lines
            for wrapped in (textwrap.wrap(line, 96, subsequent_indent="  ") or [""])]
