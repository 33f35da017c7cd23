"""A bench run's PNG plots, drawn from its results (so ``results.json`` can redraw them)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from s6nf.harness.compare import NORMAL, SCALING, lost
from s6nf.measure.histogram import BUCKETS, Histogram, bucket_range

PHASES = {NORMAL: ("normal operation", "tab:blue"), SCALING: ("during scale events", "tab:red")}


def histogram(sparse: Mapping[str, int]) -> Histogram:
    """A histogram from the results' ``{bucket: count}`` form."""
    counts = [0] * BUCKETS
    for bucket, count in sparse.items():
        counts[int(bucket)] = count
    return Histogram(tuple(counts))


def _mark_events(ax: Axes, run: Mapping[str, Any]) -> None:
    for e in run["events"]:
        ax.axvspan(e["at_s"], e["at_s"] + e["seconds"], color="tab:orange", alpha=0.3)
        ax.axvline(e["at_s"], color="tab:orange", linestyle="--")
        ax.annotate(f"→{e['instances']}", (e["at_s"], 0), textcoords="offset points",
                    xytext=(3, 5), color="tab:orange")


def throughput(results: Mapping[str, Any], path: Path) -> None:
    """Packets/s received at the sink per time slot, one panel per mode, scale events shaded
    from the controller's start to its end and labelled with the new instance count."""
    modes = results["modes"]
    fig, axes = plt.subplots(len(modes), 1, figsize=(9, 2.4 * len(modes) + 0.8), sharex=True,
                             sharey=True, squeeze=False)
    for ax, (mode, run) in zip(axes[:, 0], modes.items(), strict=True):
        m = run["measured"]
        slot_s = m["slot_ns"] / 1e9
        slots = sorted(m["throughput"], key=lambda s: s["slot"])
        ax.plot([s["slot"] * slot_s for s in slots], [s["packets"] / slot_s for s in slots],
                label="received at sink")
        ax.axhline(results["rate_pps"], color="grey", linestyle=":", label="offered")
        _mark_events(ax, run)
        ax.set_title(f"{mode}", loc="left")
        ax.set_ylabel("packets/s")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
    axes[-1, 0].set_xlabel("time since start (s)")
    axes[0, 0].legend(loc="lower right")
    fig.suptitle(f"{results['nf']} under {results['schedule']}: throughput at the sink "
                 "(scale events shaded)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _cdf(ax: Axes, hist: Histogram, label: str, color: str) -> None:
    xs, ys, seen = [], [], 0
    for bucket, count in enumerate(hist.counts):
        if count:
            seen += count
            xs.append(bucket_range(bucket)[1] / 1e3)
            ys.append(seen / hist.total)
    ax.step(xs, ys, where="post", label=f"{label} ({hist.total:,} packets)", color=color)


def latency_cdf(results: Mapping[str, Any], path: Path) -> None:
    """gen → sink latency CDFs, normal operation vs scale events, one panel per mode."""
    modes = results["modes"]
    cols = min(2, len(modes))
    rows = math.ceil(len(modes) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 3.6 * rows), sharex=True,
                             squeeze=False)
    for ax, (mode, run) in zip(axes.flat, modes.items(), strict=False):
        for phase, (label, color) in PHASES.items():
            sparse = run.get("histograms", {}).get(phase)
            if sparse:
                _cdf(ax, histogram(sparse), label, color)
        ax.set_xscale("log")
        ax.tick_params(labelbottom=True)
        ax.set_title(mode, loc="left")
        ax.set_xlabel("latency gen → sink (µs, log scale)")
        ax.set_ylabel("fraction of packets")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower right", fontsize="small")
    for ax in list(axes.flat)[len(modes):]:
        ax.set_visible(False)
    fig.suptitle(f"{results['nf']}: latency, normal operation vs scale events")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _latency_us(run: Mapping[str, Any], phase: str, p: str) -> float:
    lat = run["measured"]["latency_ns_by_phase"].get(phase) or {}
    return float(lat.get(p, 0)) / 1e3


def modes(results: Mapping[str, Any], path: Path) -> None:
    """The modes side by side: p99 latency normal vs scaling, loss and reordering, throughput
    in normal operation, and capacity when it was measured."""
    runs = results["modes"]
    names = list(runs)
    xs = range(len(names))
    width = 0.38
    measured_capacity = any("capacity" in r for r in runs.values())
    fig, axes = plt.subplots(1, 4 if measured_capacity else 3,
                             figsize=(21 if measured_capacity else 16, 4.5))
    lat, bad, tput = axes[:3]
    for offset, (phase, (label, color)) in zip((-width / 2, width / 2), PHASES.items(),
                                               strict=True):
        bars = lat.bar([x + offset for x in xs], [_latency_us(r, phase, "p99") for r in
                                                 runs.values()], width, label=label, color=color)
        lat.bar_label(bars, fmt="%.0f", fontsize="x-small")
    lat.set_yscale("log")
    lat.set_ylabel("p99 latency gen → sink (µs, log scale)")
    lat.set_title("p99 latency")
    lat.legend(fontsize="small")
    counts = {"lost packets": ([lost(r)[0] for r in runs.values()], "tab:red"),
              "reordered flows": ([r["measured"]["flows_reordered"] for r in runs.values()],
                                  "tab:purple")}
    for offset, (label, (values, color)) in zip((-width / 2, width / 2), counts.items(),
                                                strict=True):
        bars = bad.bar([x + offset for x in xs], values, width, label=label, color=color)
        bad.bar_label(bars, fontsize="x-small")
    bad.set_ylim(bottom=0, top=max(1, *(max(v) for v, _ in counts.values())) * 1.15)
    bad.set_ylabel("count")
    bad.set_title("loss and reordering")
    bad.legend(fontsize="small")
    bars = tput.bar(list(xs), [(r.get("throughput_normal_pps") or 0) / 1e3
                               for r in runs.values()], 0.6, color="tab:green")
    tput.bar_label(bars, fmt="%.1f", fontsize="x-small")
    tput.axhline(results["rate_pps"] / 1e3, color="grey", linestyle=":", label="offered")
    tput.set_ylabel("throughput in normal operation (kpackets/s)")
    tput.set_title("throughput")
    tput.legend(fontsize="small")
    if measured_capacity:
        _capacity(axes[3], runs)
    for ax in axes:
        ax.set_xticks(list(xs), names, fontsize="small", rotation=15)
        ax.set_xlabel("mode")
    fig.suptitle(f"{results['nf']} under {results['schedule']}: modes side by side")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _capacity(ax: Axes, runs: Mapping[str, Mapping[str, Any]]) -> None:
    """Delivered next to offered packets/s of each mode's top-speed run."""
    xs = range(len(runs))
    width = 0.38
    caps = [r.get("capacity") or {} for r in runs.values()]
    for offset, (key, label, color) in zip(
            (-width / 2, width / 2), (("offered_pps", "offered (gen, top speed)", "grey"),
                                      ("delivered_pps", "delivered (sink)", "tab:blue")),
            strict=True):
        bars = ax.bar([x + offset for x in xs], [c.get(key, 0) / 1e3 for c in caps], width,
                      label=label, color=color)
        ax.bar_label(bars, fmt="%.0f", fontsize="x-small")
    instances = {c["instances"] for c in caps if c}
    ax.set_ylabel("packets/s (thousands)")
    ax.set_title(f"capacity: top-speed replay, {', '.join(map(str, sorted(instances)))} "
                 "instances, no scale event")
    ax.legend(fontsize="small")
