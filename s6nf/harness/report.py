"""A bench run's results as Markdown: the modes side by side, the issue's ratios, the scale
events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from s6nf.harness.compare import NORMAL, SCALING, TARGETS, lost, unsent

PHASE_NAMES = {0: "normal", 1: "scaling"}


def _us(ns: float) -> str:
    return f"{ns / 1e3:,.1f}"


def latency_cell(run: Mapping[str, Any], phase: str) -> str:
    """p50 / p99 / p99.9 in µs, or "—" without samples."""
    lat = run["measured"]["latency_ns_by_phase"].get(phase)
    if not lat or "p50" not in lat:
        return "—"
    return f"{_us(lat['p50'])} / {_us(lat['p99'])} / {_us(lat['p99.9'])}"


def _unsent_cell(run: Mapping[str, Any]) -> str:
    got = unsent(run)
    return "—" if got is None else f"{got[0]:,} ({got[1]:,})"


def _equivalence_cell(run: Mapping[str, Any]) -> str:
    eq = run.get("equivalence")
    if eq is None:
        return "—"
    if eq["equal"]:
        return f"yes ({eq['flows_compared']:,} flows)"
    return f"no: {eq['flows_differing']:,} of {eq['flows_compared']:,} flows differ"


def _capacity_cell(run: Mapping[str, Any]) -> str:
    cap = run.get("capacity")
    if cap is None:
        return "—"
    return (f"{cap['delivered_pps']:,.0f} / {cap['offered_pps']:,.0f} "
            f"({cap['instances']} instance{'s' if cap['instances'] > 1 else ''})")


def _backups_cell(counters: Mapping[str, Mapping[str, int]]) -> str:
    copies = sum(c.get("copies_sent", 0) for c in counters.values())
    passes = max((c.get("sweep_passes", 0) for c in counters.values()), default=0)
    return f"{copies:,}; {passes}"


def _ratio_cell(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"


def _workload_text(results: Mapping[str, Any]) -> str:
    w = results["workload"]
    size = w.get("flow_size")
    parts = [f"{w['packets']:,} packets of {w['flows']:,} flows"]
    if "concurrency" in w:
        parts.append(f"{w['concurrency']:,} active at once")
    if size:
        parts.append(f"flow size {size['kind']} mean {size['mean']:g} packets")
    if w.get("ramp_s"):
        parts.append(f"first flows opened over {w['ramp_s']:g} s")
    return ", ".join(parts) + f"; replayed at {results['rate_pps']:,} pps"


def comparison_table(results: Mapping[str, Any]) -> list[str]:
    """One column per mode, one row per figure."""
    modes: Mapping[str, Mapping[str, Any]] = results["modes"]
    names = list(modes)
    rows: list[tuple[str, list[str]]] = [
        ("packets sent", [f"{r['sent']:,}" for r in modes.values()]),
        ("received at the sink", [f"{r['measured']['received']:,}" for r in modes.values()]),
        ("replay took (s); mean packets/s gen sent", [
            f"{r['replay_seconds']:.1f}; {r['sent'] / r['replay_seconds']:,.0f}"
            for r in modes.values()]),
        ("lost packets (flows)", [f"{lost(r)[0]:,} ({lost(r)[1]:,})" for r in modes.values()]),
        ("packets under a key never sent (flows)", [_unsent_cell(r) for r in modes.values()]),
        ("reordered packets (flows)", [
            f"{r['measured']['reordered']:,} ({r['measured']['flows_reordered']:,})"
            for r in modes.values()]),
        ("latency p50 / p99 / p99.9, normal (µs)", [latency_cell(r, NORMAL)
                                                    for r in modes.values()]),
        ("latency p50 / p99 / p99.9, during scale events (µs)", [
            latency_cell(r, SCALING) for r in modes.values()]),
        ("throughput in normal operation (packets/s)", [
            "—" if r.get("throughput_normal_pps") is None else f"{r['throughput_normal_pps']:,.0f}"
            for r in modes.values()]),
        ("scale events took (ms)", [", ".join(f"{e['seconds'] * 1e3:.0f}" for e in r["events"])
                                    or "—" for r in modes.values()]),
    ]
    if any("replication" in r for r in modes.values()):
        rows.append(("the agents' replication", [r.get("replication", "—")
                                                 for r in modes.values()]))
    if any("replication_counters" in r for r in modes.values()):
        rows.append(("copies sent to backups; longest sweep (passes)", [
            _backups_cell(r["replication_counters"]) if "replication_counters" in r else "—"
            for r in modes.values()]))
    if any("load_average" in r for r in modes.values()):
        rows.append(("machine load average (1 min), before / after the run", [
            f"{r['load_average']['before'][0]:.1f} / {r['load_average']['after'][0]:.1f}"
            if "load_average" in r else "—" for r in modes.values()]))
    if any("capacity" in r for r in modes.values()):
        rows += [
            ("capacity: delivered / offered packets/s, top-speed replay, no scale event",
             [_capacity_cell(r) for r in modes.values()]),
            ("capacity run: lost packets (of them dropped at a full punt ring)", [
                f"{r['capacity']['lost']:,} ({r['capacity']['drop_punt_full']:,})"
                if "capacity" in r else "—" for r in modes.values()]),
        ]
    if any("equivalence" in r for r in modes.values()):
        rows.append(("output equals a single-instance run", [_equivalence_cell(r)
                                                             for r in modes.values()]))
    lines = ["| figure | " + " | ".join(names) + " |",
             "|---|" + "---:|" * len(names)]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows]
    return lines


def ratio_table(results: Mapping[str, Any]) -> list[str]:
    lines = ["| ratio | measured | target | met |", "|---|---:|---:|---|"]
    for target in TARGETS:
        value = results["ratios"].get(target.key)
        met = target.met(value)
        lines.append(f"| {target.text} | {_ratio_cell(value)} | {target.goal} | "
                     f"{'—' if met is None else 'yes' if met else 'no'} |")
    return lines


def replication_cost_table(results: Mapping[str, Any]) -> list[str]:
    """Each replication setting's figures over the first setting's, per mode (empty when the
    run had one setting)."""
    cost: Mapping[str, Mapping[str, Mapping[str, float | None]]] = results.get(
        "replication_cost") or {}
    if not any(cost.values()):
        return []
    base = results["replication"]
    lines = ["", f"Cost of replication, each setting ÷ replication {base} in the same mode, "
             "on the same trace and schedule:", "",
             "| mode | replication | throughput in normal operation | capacity | "
             "p50 latency, normal | p99 latency, normal |", "|---|---|---:|---:|---:|---:|"]
    for mode, by_setting in cost.items():
        for setting, r in by_setting.items():
            lines.append(f"| {mode} | {setting} | {_ratio_cell(r['throughput_normal'])} | "
                         f"{_ratio_cell(r['capacity'])} | "
                         f"{_ratio_cell(r['p50_latency_normal'])} | "
                         f"{_ratio_cell(r['p99_latency_normal'])} |")
    return lines


def markdown(results: Mapping[str, Any]) -> str:
    lines = [f"# s6nf bench: {results['nf']} under {results['schedule']}", "",
             _workload_text(results) + ". The modes ran one after the other on the same trace, "
             "each on a fresh testbed.", ""]
    lines += comparison_table(results)
    lines += ["", "Ratios, measured side by side in this run (— where a mode did not run):", ""]
    lines += ratio_table(results)
    lines += replication_cost_table(results)
    lines += ["", "| mode | scale event | at (s) | moved buckets | took (ms) | outcome |",
              "|---|---|---:|---:|---:|---|"]
    for mode, run in results["modes"].items():
        for e in run["events"]:
            lines.append(f"| {mode} | to {e['instances']} | {e['at_s']:.2f} | {e['moved']} | "
                         f"{e['seconds'] * 1e3:.0f} | {'ok' if e['ok'] else 'FAILED'} |")
    env = results.get("environment")
    if env:
        versions = ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items() if v)
        lines += ["", f"Kernel {env['kernel']} ({env['machine']}), {env['cpus']} CPUs, Python "
                  f"{env['python']}; {versions}; {env['time']}."]
    return "\n".join(lines) + "\n"
