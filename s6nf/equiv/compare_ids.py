"""Comparing a scaled IDS run with the reference run.

The IDS rewrites no address and keeps one canonical key for both directions of a flow, and
one instance handles a flow's packets in arrival order whichever way they go (the punt gate
and the slow path's queue are per key). So a flow's outputs are compared byte for byte *in one
sequence over both directions*, stricter than the NAT's and the monitor's per-direction check.

Rule alerts are per packet, so per flow they form a sequence in the flow's packet order:
compared *in order* per flow (the same alerts in another order is kind ``order``, anything
else ``alert``). Across flows nothing orders them, as nothing orders the flows' packets.

Port-scan alerts are not promised to be equal. The IDS adds a new flow's (destination, port)
to its source's window with an ``@untether`` call and reads the count ``@stale`` before it
makes the strict ``flag`` call; one instance sees its own add at once, but with the window at
another instance the count can lag behind, so the alert comes at a later flow of the source
(with a larger count) or, when the source opens none after crossing, not within the trace.
That is the consistency the NF chose (DESIGN.md §3), not a lost update; it is kind ``scan``.
What *is* promised and checked: every add is applied in the end (the windows' pairs equal,
kind ``shared``), a source is reported at most once per window (``flag`` is strict), and never
one that the single instance does not report (kind ``alert``).
"""

from __future__ import annotations

import ipaddress
from collections import Counter, defaultdict
from typing import Any

from s6nf.equiv.compare import (
    CLOCK_FIELDS,
    Violation,
    compare_outputs,
    held_once,
    name_unbacked_losses,
    plain_state,
    run_problems,
)
from s6nf.equiv.driver import RunRecord
from s6nf.equiv.kill_cost import (
    at_most,
    count_kills,
    held_by_dead,
    lagging_flows,
    leave_out,
    recounted,
)
from s6nf.equiv.trace import Trace, read_tag
from s6nf.keys import FlowKey

IGNORED_FIELDS = CLOCK_FIELDS | {"pad2"}
PROTOS = {"tcp": 6, "udp": 17}
SCANS, SETTINGS = "ids.scans", "ids.settings"
Frames = dict[tuple[int, int], list[tuple[int, bytes]]]


def _by_flow(run: RunRecord) -> tuple[Frames, int]:
    """(flow, 0) → every frame of the flow, both directions, in leave order."""
    flows: Frames = defaultdict(list)
    untagged = 0
    for direction, frame in run.outputs:
        tag = read_tag(frame)
        if tag is None:
            untagged += 1
        else:
            flows[tag[0], 0].append((direction, frame))
    return flows, untagged


def rule_alerts(trace: Trace, run: RunRecord) -> tuple[dict[int, list[str]], list[str]]:
    """flow → its rule alerts in the order raised, each ``sid`` + ``f``/``r`` (the packet's
    direction); and alerts that name no flow of the trace."""
    flow_of = trace.flow_of()
    out: dict[int, list[str]] = defaultdict(list)
    strays: list[str] = []
    for a in run.alerts:
        if a["event"] != "alert":
            continue
        key = FlowKey.of(a["src"], a["dst"], a["sport"], a["dport"], PROTOS[a["proto"]])
        flow = flow_of.get(key.canonical())
        if flow is None:
            strays.append(str(a))
            continue
        forward = trace.endpoints(flow).src == key.src
        out[flow].append(f"{a['sid']}{'f' if forward else 'r'}")
    return out, strays


def scan_alerts(run: RunRecord) -> dict[str, list[int]]:
    """source → the counts its port-scan alerts reported, in order."""
    out: dict[str, list[int]] = defaultdict(list)
    for a in run.alerts:
        if a["event"] == "portscan":
            out[a["src"]].append(a["distinct"])
    return out


def _subsequence(short: list[str], long: list[str]) -> bool:
    rest = iter(long)
    return all(any(x == y for y in rest) for x in short)


def _rules(trace: Trace, ref: RunRecord, got: RunRecord, out: list[Violation],
           lagging: set[int]) -> None:
    """After a kill, a flow that lost packets may miss the alerts of those packets (at most
    one each; the others in order); one whose entry a kill set back (``lagging``: the map is
    asynchronous, so the entry may be an earlier version, its ``inspect`` not yet set) may
    miss any (the others in order)."""
    want, ref_strays = rule_alerts(trace, ref)
    have, got_strays = rule_alerts(trace, got)
    lost = Counter(tag[0] for tag in got.excused)
    out += [Violation("reference", None, f"alert on no flow of the trace: {a}")
            for a in ref_strays]
    out += [Violation("alert", None, f"alert on no flow of the trace: {a}") for a in got_strays]
    for flow in sorted(set(want) | set(have)):
        a, b = want.get(flow, []), have.get(flow, [])
        if a != b and len(a) - len(b) <= lost[flow] and _subsequence(b, a):
            got.cost["alerts of lost packets"] += len(a) - len(b)
        elif a != b and flow in lagging and _subsequence(b, a):
            got.cost["alerts missed by a flow whose entry was set back"] += len(a) - len(b)
        elif a != b:
            kind = "order" if Counter(a) == Counter(b) else "alert"
            out.append(Violation(kind, flow, f"rule alerts (reference, scaled): {a} vs {b}"))


def _scan_alerts(ref: RunRecord, got: RunRecord, out: list[Violation]) -> None:
    """After a kill, a source whose window's home died may be reported again: the window is
    asynchronously replicated, so its flag can be lost with the home."""
    want, have = scan_alerts(ref), scan_alerts(got)
    for src in sorted(set(want) | set(have)):
        a, b = want.get(src, []), have.get(src, [])
        if len(a) > 1:
            out.append(Violation("reference", None, f"port scan by {src} reported {a}"))
        if len(b) == 2 and held_by_dead(got, SCANS, ipaddress.IPv4Address(src).packed):
            got.cost["port scans reported again (their window's home died)"] += 1
        elif len(b) > 1:
            out.append(Violation("alert", None, f"port scan by {src} reported more than once "
                                                f"in one window: {b}"))
        elif b and not a:
            out.append(Violation("alert", None, f"port scan by {src} (count {b[0]}) that one "
                                                "instance does not report"))
        elif a and not b:
            out.append(Violation("scan", None, f"port scan by {src} (count {a[0]} with one "
                                               "instance) not reported by the end"))
        elif a != b:
            out.append(Violation("scan", None, f"port scan by {src} reported at count {b[0]}, "
                                               f"one instance at {a[0]}"))


def _window(attrs: dict[str, Any]) -> tuple[list[int], bool]:
    """A ScanWindow without its clocks: its (destination, port) pairs, and whether flagged."""
    return sorted(attrs["seen"]), attrs["alerted_until"] > 0


def _objects(ref: RunRecord, got: RunRecord, out: list[Violation], above: int) -> None:
    premise: list[Violation] = []
    want, have = held_once(ref, SCANS, premise), held_once(got, SCANS, out)
    for key in sorted(set(want) | set(have)):
        a = _window(want[key]) if key in want else ([], False)
        b = _window(have[key]) if key in have else ([], False)
        if a[0] != b[0] and got.kills and at_most(a[0], b[0], above):
            got.cost["objects set back or counted again after a kill"] += 1
        elif a[0] != b[0]:
            out.append(Violation("shared", None, f"{SCANS}[{key.hex()}] pairs (reference, "
                                                 f"scaled): {a[0]} vs {b[0]}"))
        elif a[1] != b[1]:
            kind = "scan" if a[1] else "alert"
            out.append(Violation(kind, None, f"{SCANS}[{key.hex()}] flagged (reference, "
                                             f"scaled): {a[1]} vs {b[1]}"))
    want, have = held_once(ref, SETTINGS, premise), held_once(got, SETTINGS, out)
    if want != have and any(held_by_dead(got, SETTINGS, key) for key in want):
        got.cost["settings lost with their home (configured again by the next new flow)"] += 1
    elif want != have:
        out.append(Violation("shared", None, f"{SETTINGS} (reference, scaled): {want} vs "
                                             f"{have}"))
    out += [Violation("reference", v.flow, v.detail) for v in premise]


def compare_ids(trace: Trace, ref: RunRecord, got: RunRecord) -> list[Violation]:
    """Every way ``got`` (the scaled IDS run) differs from ``ref``; empty if equivalent."""
    out = run_problems(ref, got)
    count_kills(got, got.cost)
    ref_flows, ref_untagged = _by_flow(ref)
    got_flows, got_untagged = _by_flow(got)
    if ref_untagged or got_untagged:
        out.append(Violation("output", None, f"untagged frames left: {ref_untagged} in the "
                                             f"reference, {got_untagged} in the scaled run"))
    compare_outputs(leave_out(ref_flows, got, got.cost), got_flows, {}, out)
    flow_of = trace.flow_of()
    plain_state(ref, got, out, flow_of.get, IGNORED_FIELDS)
    lagging = lagging_flows(got, lambda k, _: flow_of.get(k))
    _rules(trace, ref, got, out, lagging if not got.flows_sync else set())
    _scan_alerts(ref, got, out)
    _objects(ref, got, out, recounted(got, lagging))
    return name_unbacked_losses(got, lambda k: {f} if (f := flow_of.get(k)) is not None else set(),
                             out)
