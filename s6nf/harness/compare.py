"""Figures that put the modes of one bench run side by side (DESIGN.md §6, §8): throughput in
normal operation, the issue's ratios, and whether a run's output equals a single-instance run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from s6nf.measure.sequence import SequenceReport

NORMAL, SCALING = "0", "1"
"""The sink's phases as they appear in ``latency_ns_by_phase``."""


def normal_throughput_pps(run: Mapping[str, Any]) -> float | None:
    """Mean packets/s at the sink over the time slots that lie inside the replay and overlap no
    scale event. The replay offers a fixed rate, so this is the rate the NF kept up with, at
    most the offered one; None when no slot qualifies."""
    m = run["measured"]
    slot_s = m["slot_ns"] / 1e9
    busy = [(e["at_s"], e["at_s"] + e["seconds"]) for e in run["events"]]
    counts = [s["packets"] for s in m["throughput"]
              if (s["slot"] + 1) * slot_s <= run["replay_seconds"]
              and not any(s["slot"] * slot_s < end and (s["slot"] + 1) * slot_s > start
                          for start, end in busy)]
    return sum(counts) / (len(counts) * slot_s) if counts else None


def capacity_figures(run: Mapping[str, Any]) -> dict[str, Any]:
    """A top-speed run's figures: what gen offered and what reached the sink per second while
    the top-speed part of the replay ran (after the ramp, if any: from the first slot with a
    packet from then on to the last slot that ends inside the replay), and what was lost.
    Delivered packets/s is the NF's capacity in normal operation on this trace, its new flows
    included; packets the slow path could not take (a full punt ring) are not delivered."""
    m = run["measured"]
    slot_s = m["slot_ns"] / 1e9
    top_from = run.get("last_part_at_s", 0.0)
    end = run["replay_seconds"]
    busy = [s for s in m["throughput"] if s["packets"] and s["slot"] * slot_s >= top_from]
    first = busy[0]["slot"] if busy else 0
    inside = [s["packets"] for s in m["throughput"]
              if s["slot"] >= first and (s["slot"] + 1) * slot_s <= end]
    delivered = (sum(inside) / (len(inside) * slot_s) if inside
                 else m["received"] / end)
    punt_full = sum(v.get("drop_punt_full", 0) for v in run["instances"].values())
    top_sent = run.get("last_part_sent", run["sent"])
    return {"instances": len(run["instances"]), "sent": run["sent"], "received": m["received"],
            "replay_seconds": end, "top_speed_from_s": top_from,
            "offered_pps": top_sent / max(end - top_from, 1e-9), "delivered_pps": delivered,
            "lost": lost(run)[0], "drop_punt_full": punt_full}


def _latency(run: Mapping[str, Any], phase: str, p: str) -> float | None:
    lat = run["measured"]["latency_ns_by_phase"].get(phase)
    return float(lat[p]) if lat and p in lat else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


@dataclass(frozen=True)
class Target:
    key: str
    text: str
    """What the ratio is, for a reader."""
    goal: str
    """The issue's target, e.g. ">= 100"."""
    at_least: float | None = None
    at_most: float | None = None

    def met(self, value: float | None) -> bool | None:
        if value is None:
            return None
        if self.at_least is not None:
            return value >= self.at_least
        return self.at_most is None or value <= self.at_most


TARGETS = (
    Target("p99_scaling_stop_and_copy_over_s6",
           "p99 latency during scale events, stop-and-copy ÷ s6", "≥ 100", at_least=100),
    Target("p50_scaling_over_normal_s6",
           "s6 p50 latency during scale events ÷ its p50 in normal operation", "≤ 2", at_most=2),
    Target("throughput_s6_over_local_only",
           "throughput in normal operation, s6 ÷ local-only", "≥ 0.9", at_least=0.9),
    Target("throughput_s6_over_remote_only",
           "throughput in normal operation, s6 ÷ remote-only", "≥ 5", at_least=5),
    Target("capacity_s6_over_local_only",
           "capacity (top-speed replay, no scale event), s6 ÷ local-only", "≥ 0.9",
           at_least=0.9),
    Target("capacity_s6_over_remote_only",
           "capacity (top-speed replay, no scale event), s6 ÷ remote-only", "≥ 5", at_least=5),
)


def ratios(modes: Mapping[str, Mapping[str, Any]]) -> dict[str, float | None]:
    """The issue's ratios, each None when a mode it needs did not run (or had no samples)."""
    def lat(mode: str, phase: str, p: str) -> float | None:
        run = modes.get(mode)
        return _latency(run, phase, p) if run is not None else None

    def tput(mode: str) -> float | None:
        run = modes.get(mode)
        return run.get("throughput_normal_pps") if run is not None else None

    def capacity(mode: str) -> float | None:
        run = modes.get(mode)
        cap = run.get("capacity") if run is not None else None
        return float(cap["delivered_pps"]) if cap else None

    return {
        "p99_scaling_stop_and_copy_over_s6": _ratio(lat("stop-and-copy", SCALING, "p99"),
                                                    lat("s6", SCALING, "p99")),
        "p50_scaling_over_normal_s6": _ratio(lat("s6", SCALING, "p50"), lat("s6", NORMAL, "p50")),
        "throughput_s6_over_local_only": _ratio(tput("s6"), tput("local-only")),
        "throughput_s6_over_remote_only": _ratio(tput("s6"), tput("remote-only")),
        "capacity_s6_over_local_only": _ratio(capacity("s6"), capacity("local-only")),
        "capacity_s6_over_remote_only": _ratio(capacity("s6"), capacity("remote-only")),
    }


def run_name(mode: str, replication: str, base: str) -> str:
    """A run's name in ``results["modes"]``: the mode for runs with the first replication
    setting given (``base``), "mode+setting" for the others."""
    return mode if replication == base else f"{mode}+{replication}"


def replication_cost(runs: Mapping[str, Mapping[str, Any]], modes: Sequence[str],
                     settings: Sequence[str]) -> dict[str, dict[str, dict[str, float | None]]]:
    """Mode → replication setting (each but the first) → its run's figures ÷ the same mode's
    run with the first setting, on the same trace and schedule (#9's cost of replication):
    throughput in normal operation, capacity where measured, normal-operation latency."""
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    base = settings[0]

    def capacity(run: Mapping[str, Any] | None) -> float | None:
        cap = run.get("capacity") if run is not None else None
        return float(cap["delivered_pps"]) if cap else None

    def lat(run: Mapping[str, Any] | None, p: str) -> float | None:
        return _latency(run, NORMAL, p) if run is not None else None

    for mode in modes:
        ref = runs.get(run_name(mode, base, base))
        for setting in settings[1:]:
            run = runs.get(run_name(mode, setting, base))
            out.setdefault(mode, {})[setting] = {
                "throughput_normal": _ratio(
                    run.get("throughput_normal_pps") if run is not None else None,
                    ref.get("throughput_normal_pps") if ref is not None else None),
                "capacity": _ratio(capacity(run), capacity(ref)),
                "p50_latency_normal": _ratio(lat(run, "p50"), lat(ref, "p50")),
                "p99_latency_normal": _ratio(lat(run, "p99"), lat(ref, "p99")),
            }
    return out


def loss_figures(report: SequenceReport) -> dict[str, int]:
    """Loss counted flow by flow, apart from packets under keys that were never sent.

    The sink's net loss (sent - received) lets the second kind hide the first: a NAT that loses
    a flow's entry gives the rest of the flow a new public port, so its later packets reach the
    sink under a key nobody sent and the flow's own key looks short by as many.
    """
    flows = report.flows.values()
    return {"packets": sum(f.lost for f in flows if f.lost > 0),
            "flows": sum(1 for f in flows if f.lost > 0),
            "unsent_key_packets": sum(f.received for f in flows if f.expected == 0),
            "unsent_key_flows": sum(1 for f in flows if f.expected == 0)}


def lost(run: Mapping[str, Any]) -> tuple[int, int]:
    """(packets, flows) lost, flow by flow where the run has it (``loss_figures``)."""
    if "loss" in run:
        return run["loss"]["packets"], run["loss"]["flows"]
    return run["measured"]["lost"], run["measured"]["flows_with_loss"]


def unsent(run: Mapping[str, Any]) -> tuple[int, int] | None:
    """(packets, flows) the sink got under keys never sent, where the run has it."""
    if "loss" not in run:
        return None
    return run["loss"]["unsent_key_packets"], run["loss"]["unsent_key_flows"]


FlowOutcome = dict[bytes, tuple[int, int]]
"""Inside flow (canonical key) → (packets the sink received of it, packets that arrived after
a later one of the same flow)."""


def flow_outcomes(report: SequenceReport, sink_keys: Mapping[bytes, bytes]) -> FlowOutcome:
    """Each sent flow's outcome at the sink, keyed by the flow as sent (``sink_keys`` maps it to
    the key the sink saw it under, e.g. after the NAT's rewrite)."""
    out = {}
    for sent, seen in sink_keys.items():
        flow = report.flows.get(seen)
        out[sent] = (flow.received, flow.reordered) if flow else (0, 0)
    return out


def equivalence(run: FlowOutcome, single: FlowOutcome) -> dict[str, Any]:
    """Whether every flow reached the sink as in the single-instance run: the same number of
    packets, and as many out of order. Each packet carries its flow's sequence number from
    gen, so equal counts with nothing out of order means the same packets in the same order."""
    differing = sorted(k for k in single.keys() | run.keys()
                       if run.get(k, (0, 0)) != single.get(k, (0, 0)))
    return {"flows_compared": len(single.keys() | run.keys()), "flows_differing": len(differing),
            "equal": not differing,
            "examples": [{"run": run.get(k, (0, 0)), "single": single.get(k, (0, 0))}
                         for k in differing[:5]]}
