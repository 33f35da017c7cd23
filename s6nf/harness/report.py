"""Turning a bench run's results into a Markdown summary and PNG plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from s6nf.measure.histogram import Histogram, bucket_range

PHASE_NAMES = {0: "normal", 1: "scaling"}


def markdown(results: dict[str, Any]) -> str:
    m = results["measured"]
    lines = [f"# s6nf bench: {results['nf']} under {results['schedule']}", "",
             f"{results['workload']['packets']} packets of {results['workload']['flows']} flows "
             f"at {results['rate_pps']:,} pps; mode {results['mode']}.", "",
             "| figure | value |", "|---|---:|",
             f"| packets sent | {results['sent']} |",
             f"| packets received at the sink | {m['received']} |",
             f"| lost | {m['lost']} ({m['flows_with_loss']} flows) |",
             f"| reordered | {m['reordered']} ({m['flows_reordered']} flows) |"]
    for phase, name in PHASE_NAMES.items():
        lat = m["latency_ns_by_phase"].get(str(phase))
        if lat:
            lines.append(f"| latency p50 / p99 / p99.9, {name} (µs) | "
                         f"{lat['p50'] / 1e3:.1f} / {lat['p99'] / 1e3:.1f} / "
                         f"{lat['p99.9'] / 1e3:.1f} |")
    lines += ["", "| scale event | at (s) | moved buckets | took (ms) | outcome |",
              "|---|---:|---:|---:|---|"]
    for e in results["events"]:
        lines.append(f"| to {e['instances']} | {e['at_s']:.2f} | {e['moved']} | "
                     f"{e['seconds'] * 1e3:.0f} | {'ok' if e['ok'] else 'FAILED'} |")
    return "\n".join(lines) + "\n"


def plot_throughput(results: dict[str, Any], path: Path) -> None:
    m = results["measured"]
    slot_s = m["slot_ns"] / 1e9
    slots = sorted(m["throughput"], key=lambda s: s["slot"])
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot([s["slot"] * slot_s for s in slots], [s["packets"] / slot_s for s in slots],
            label="received at sink")
    for e in results["events"]:
        ax.axvspan(e["at_s"], e["at_s"] + e["seconds"], color="tab:orange", alpha=0.3)
        ax.axvline(e["at_s"], color="tab:orange", linestyle="--")
        ax.annotate(f"→{e['instances']}", (e["at_s"], 0), textcoords="offset points",
                    xytext=(3, 5), color="tab:orange")
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("throughput (packets/s)")
    ax.set_title(f"{results['nf']}: throughput, scale events shaded")
    ax.set_ylim(bottom=0)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_latency_cdf(histograms: dict[int, Histogram], path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    for phase, hist in sorted(histograms.items()):
        if not hist.total:
            continue
        xs, ys, seen = [], [], 0
        for bucket, count in enumerate(hist.counts):
            if count:
                seen += count
                xs.append(bucket_range(bucket)[1] / 1e3)
                ys.append(seen / hist.total)
        ax.step(xs, ys, where="post", label=f"{PHASE_NAMES.get(phase, phase)} ({hist.total})")
    ax.set_xscale("log")
    ax.set_xlabel("latency gen → sink (µs, log scale)")
    ax.set_ylabel("fraction of packets")
    ax.set_title(title)
    ax.legend(loc="lower right")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
