"""Comparing a scaled run with the reference run.

The NAT may legitimately give a flow another public port in the scaled run (another
instance leased other ports). Outputs and state are therefore compared *up to a renaming of
public ports*: each flow must leave by one port in each run (consistent per flow), no two
flows may share one (unique among live flows: nothing expires during a run), and the scaled
run's port of a flow is renamed to the reference's before frames and entries are compared
byte for byte (checksums adjusted incrementally, so a wrong checksum stays wrong).

State is the union of every instance's ``nat_flows`` entries; each key must be held by
exactly one instance; fields are compared except ``last_seen_ns`` (a clock) and ``ready``
(the punt path's gate: a migrated entry waits for its next packet to be flipped).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from s6nf.agent.structs import NatEntryRecord
from s6nf.equiv.driver import NAT, UNAPPLIED, RunRecord
from s6nf.equiv.kill_cost import (
    at_most,
    count_kills,
    lag_differs,
    lagging_flows,
    leave_out,
    recounted,
)
from s6nf.equiv.trace import FORWARD, INSIDE_NET, Trace, read_tag
from s6nf.keys import FlowKey, unpack_canonical
from s6nf.nfs.frames import parse, rewrite

Side = tuple[int, int]
"""(flow, direction): the packets of one canonical key, whose order is promised."""
IGNORED_FIELDS = frozenset({"last_seen_ns", "ready", "pad"})
_PUBLIC = NAT.public_int


@dataclass(frozen=True)
class Violation:
    kind: str
    """"run" (the scaled run failed a step), "port", "output" (packets missing, extra or
    changed), "order" (the same packets, or a flow's IDS alerts, in another order),
    "placement", "state" (per-flow entries), "shared" (MultiWriter objects, and one-way calls
    never applied), "unbacked" (after a kill: ``name_unbacked_losses``), "alert" (IDS
    alerts missing, extra or changed), "scan" (a port scan reported later than by one
    instance, or not by the end: see ``compare_ids``), or
    "reference" (the single instance itself misbehaved: the checker's premise)."""
    flow: int | None
    detail: str

    def __str__(self) -> str:
        where = f" flow {self.flow}" if self.flow is not None else ""
        return f"{self.kind}{where}: {self.detail}"


CUT_INSTALL = "reverse entries of an install a kill cut short (their port leaked)"
"""A new flow's install makes the reverse entry (a port) first and the forward entry last; a
kill between the two loses the packet, the flow's next packet installs again with another
port, and the first reverse entry stays, extra. Counted, not a violation, when the flow's own
reverse entry is as in the reference, or when nothing of the flow was delivered (its port is
seen nowhere; docs/failover.md: what a kill may cost)."""

UNSEEN_PORT = "public ports of flows a kill left undelivered, seen nowhere"
"""A flow whose every packet a kill lost was installed with a port of the dead instance's
lease (or installed again): the port differs from the reference's, and no packet shows it."""

UNBACKED = "unbacked"
"""The kind of a violation on a flow that lost an object of a synchronously replicated map of
which no survivor had a copy (``KillRecord.unbacked``)."""


def name_unbacked_losses(run: RunRecord, flows_of: Callable[[bytes], set[int]],
                         found: list[Violation]) -> list[Violation]:
    """``found`` with the output, order, port and state violations of flows that lost such an
    object renamed kind ``unbacked`` (``flows_of(key)``: the flows a key may belong to)."""
    flows: set[int] = set()
    for k in run.kills:
        for key in k.unbacked:
            flows |= flows_of(key)
    return [Violation(UNBACKED, v.flow, f"({v.kind}) {v.detail}")
            if v.flow in flows and v.kind in ("output", "order", "port", "state") else v
            for v in found]


def _swap16(value: int) -> int:
    """A u16 read little-endian from network-order bytes, and back."""
    return int.from_bytes(value.to_bytes(2, "little"), "big")


def by_side(run: RunRecord) -> tuple[dict[Side, list[tuple[int, bytes]]], int]:
    flows: dict[Side, list[tuple[int, bytes]]] = defaultdict(list)
    untagged = 0
    for direction, frame in run.outputs:
        tag = read_tag(frame)
        if tag is None:
            untagged += 1
        else:
            flows[tag[0], tag[1]].append((direction, frame))
    return flows, untagged


def _ports(flows: dict[Side, list[tuple[int, bytes]]], which: str,
           out: list[Violation]) -> dict[int, int]:
    """flow → its public port; violations for a flow with several, or a port shared."""
    port_of: dict[int, int] = {}
    users: dict[int, list[int]] = defaultdict(list)
    for (flow, direction), frames in sorted(flows.items()):
        if direction != FORWARD:
            continue
        ports = sorted({parse(f).sport for _, f in frames})
        if len(ports) > 1:
            out.append(Violation("port", flow, f"{which}: left by public ports {ports}"))
        if ports:
            port_of[flow] = ports[0]
            users[ports[0]].append(flow)
    for port, shared in sorted(users.items()):
        if len(shared) > 1:
            out.append(Violation("port", None, f"{which}: public port {port} used by live "
                                               f"flows {shared}"))
    return port_of


def _rename_frame(frame: bytes, port: int) -> bytes:
    h = parse(frame)
    return rewrite(frame, h, h.src, h.dst, port, h.dport, frame[6:12], frame[0:6])


def _describe(frames: list[tuple[int, bytes]]) -> str:
    tags = []
    for _, frame in frames[:24]:
        tag = read_tag(frame)
        tags.append("?" if tag is None else f"{'fr'[tag[1]]}{tag[2]}")
    return " ".join(tags) + (" …" if len(frames) > 24 else "")


def compare_outputs(ref: dict[Side, list[tuple[int, bytes]]],
             got: dict[Side, list[tuple[int, bytes]]], rename: dict[int, int],
             out: list[Violation]) -> None:
    for side in sorted(set(ref) | set(got)):
        flow = side[0]
        want = ref.get(side, [])
        have = [(d, _rename_frame(f, rename[flow]) if d == FORWARD and flow in rename else f)
                for d, f in got.get(side, [])]
        if want == have:
            continue
        want_tags, have_tags = [read_tag(f) for _, f in want], [read_tag(f) for _, f in have]
        if want_tags != have_tags:
            same = sorted(map(str, want_tags)) == sorted(map(str, have_tags))
            kind = "order" if same else "output"
            out.append(Violation(kind, flow, f"reference sent [{_describe(want)}], scaled "
                                             f"run [{_describe(have)}]"))
            continue
        first = next(i for i, (a, b) in enumerate(zip(want, have, strict=True)) if a != b)
        out.append(Violation("output", flow, f"packet {_describe(want[first:first + 1])} "
                                             f"left with other bytes: {want[first][1].hex()} "
                                             f"vs {have[first][1].hex()}"))


def flow_of_entry(trace: Trace, key: bytes, entry: NatEntryRecord) -> int | None:
    """The trace flow an entry belongs to: its inside host names it."""
    inside = (_swap32(entry.new_daddr) if entry.reverse else _swap32(entry.orig_saddr))
    flow = inside - INSIDE_NET - 1
    return flow if 0 <= flow < len(trace.flows) else None


def _swap32(value: int) -> int:
    return int.from_bytes(value.to_bytes(4, "little"), "big")


def _rename_entry(key: bytes, entry: NatEntryRecord, ports: dict[int, int]
                  ) -> tuple[bytes, NatEntryRecord]:
    renamed = NatEntryRecord.from_bytes(entry.to_bytes())
    if entry.reverse:
        k = unpack_canonical(key)
        if k.src == _PUBLIC and k.sport in ports:
            k = FlowKey(k.src, k.dst, ports[k.sport], k.dport, k.proto)
        elif k.dst == _PUBLIC and k.dport in ports:
            k = FlowKey(k.src, k.dst, k.sport, ports[k.dport], k.proto)
        return k.canonical(), renamed
    port = _swap16(entry.new_sport)
    if port in ports:
        renamed.new_sport = _swap16(ports[port])
    return key, renamed


def _fields(entry: NatEntryRecord) -> dict[str, int]:
    return {name: value for name, value in vars(entry).items() if name not in IGNORED_FIELDS}


NAT_LAGGING = ("packets", "bytes", "closing")
"""Fields of a NAT entry the kernel updates (replicated in batches whatever the map
declares): what a kill may set back."""


def _state(trace: Trace, ref: RunRecord, got: RunRecord, ports: dict[int, int],
           out: list[Violation], delivered: set[int]) -> None:
    lagging = lagging_flows(got, lambda key, entry: flow_of_entry(trace, key, entry)
                            if entry is not None else min(nat_flows_of(trace, key), default=None))
    want: dict[bytes, NatEntryRecord] = {}
    for entries in ref.entries.values():
        want.update(entries)
    have: dict[bytes, NatEntryRecord] = {}
    holders: dict[bytes, list[int]] = defaultdict(list)
    for instance, entries in sorted(got.entries.items()):
        for key, held in entries.items():
            holders[key].append(instance)
            new_key, renamed = _rename_entry(key, held, ports)
            have[new_key] = renamed
    for key, where in sorted(holders.items()):
        if len(where) > 1:
            flow = flow_of_entry(trace, key, got.entries[where[0]][key])
            out.append(Violation("placement", flow, f"entry {key.hex()} held by instances "
                                                    f"{where}"))
    reversed_as_ref = {flow_of_entry(trace, key, e) for key, e in want.items()
                       if e.reverse and key in have}
    for key in sorted(set(want) | set(have)):
        a, b = want.get(key), have.get(key)
        entry = a or b
        if entry is None:
            continue
        flow = flow_of_entry(trace, key, entry)
        kind = "reverse" if entry.reverse else "forward"
        if a is None and entry.reverse and flow in lagging and (
                flow in reversed_as_ref or flow not in delivered):
            got.cost[CUT_INSTALL] += 1
            continue
        if a is None:
            out.append(Violation("state", flow, f"{kind} entry {key.hex()} only in the scaled "
                                                "run"))
        elif b is None:
            if flow in lagging and flow not in delivered:
                got.cost["entries never made (every packet of their flow lost)"] += 1
                continue
            out.append(Violation("state", flow, f"{kind} entry {key.hex()} missing in the "
                                                "scaled run"))
        elif _fields(a) != _fields(b):
            diff = lag_differs(_fields(a), _fields(b),
                               NAT_LAGGING if flow in lagging else (), got.cost)
            if "new_sport" in diff and flow in lagging and flow not in delivered:
                del diff["new_sport"]
                got.cost[UNSEEN_PORT] += 1
            if diff:
                out.append(Violation("state", flow, f"{kind} entry {key.hex()} differs "
                                                    f"(reference, scaled): {diff}"))
            else:
                got.cost["entries set back by a kill"] += 1


def run_problems(ref: RunRecord, got: RunRecord) -> list[Violation]:
    """What went wrong in the runs themselves (casts never applied count as shared state)."""
    out = [Violation("reference", None, p) for p in ref.problems]
    out += [Violation("shared" if p.endswith(UNAPPLIED) else "run", None, p)
            for p in got.problems]
    return out


def compare(trace: Trace, ref: RunRecord, got: RunRecord, nf: str = "nat") -> list[Violation]:
    """Every way ``got`` (the scaled run) differs from ``ref``; empty if equivalent. The NAT
    is compared up to a renaming of public ports; an NF that rewrites no address (the asset
    monitor) byte for byte, its shared objects included."""
    out = run_problems(ref, got)
    count_kills(got, got.cost)
    ref_flows, ref_untagged = by_side(ref)
    got_flows, got_untagged = by_side(got)
    if ref_untagged or got_untagged:
        out.append(Violation("output", None, f"untagged frames left: {ref_untagged} in the "
                                             f"reference, {got_untagged} in the scaled run"))
    if nf != "nat":
        compare_outputs(leave_out(ref_flows, got, got.cost), got_flows, {}, out)
        plain_state(ref, got, out)
        _objects(ref, got, out, recounted(got, lagging_flows(got, lambda k, _: _plain_flow(k))))
        return name_unbacked_losses(got, lambda k: {f} if (f := _plain_flow(k)) is not None
                                 else set(), out)
    premise: list[Violation] = []
    ref_ports = _ports(ref_flows, "reference", premise)
    out += [Violation("reference", v.flow, v.detail) for v in premise]
    got_ports = _ports(got_flows, "scaled run", out)
    rename = {f: ref_ports[f] for f in got_ports if f in ref_ports}
    compare_outputs(leave_out(ref_flows, got, got.cost), got_flows, rename, out)
    by_port = {got_ports[f]: ref_ports[f] for f in rename}
    if len(by_port) == len(rename):
        _state(trace, ref, got, by_port, out, {flow for flow, _ in got_flows})
    else:
        out.append(Violation("state", None, "not compared: the scaled run's ports cannot be "
                                            "renamed one to one"))
    return name_unbacked_losses(got, lambda k: nat_flows_of(trace, k), out)


def nat_flows_of(trace: Trace, key: bytes) -> set[int]:
    """The flows a NAT entry's key may belong to: the inside host names a forward entry's; a
    reverse entry's (server, public address) names those of the flows to that server."""
    k = unpack_canonical(key)
    if _PUBLIC not in (k.src, k.dst):
        flow = k.src - INSIDE_NET - 1
        return {flow} if 0 <= flow < len(trace.flows) else set()
    server = (k.dst, k.dport) if k.src == _PUBLIC else (k.src, k.sport)
    return {f for f in range(len(trace.flows))
            if (trace.endpoints(f).dst, trace.endpoints(f).dport) == server}


CLOCK_FIELDS = frozenset({"first_seen_ns", "last_seen_ns", "ready", "pad"})
"""Fields of an NF's entries and objects that hold clock readings (or the punt gate)."""


def _plain_flow(key: bytes) -> int | None:
    """The trace flow of a canonical key whose lower address is the inside host."""
    flow = unpack_canonical(key).src - INSIDE_NET - 1
    return flow if flow >= 0 else None


def plain_state(ref: RunRecord, got: RunRecord, out: list[Violation],
                flow_of: Callable[[bytes], int | None] = _plain_flow,
                ignored: frozenset[str] = CLOCK_FIELDS) -> None:
    """Per-flow entries of an NF that keeps its packets' own keys: equal but for the
    ``ignored`` fields (clocks), and each held by one instance. After a kill, an entry of a
    flow it set back (``kill_cost``) of an asynchronously replicated map may be any earlier
    version of itself, or gone: its counts no higher, nothing else compared."""
    lagging = lagging_flows(got, lambda key, _: flow_of(key))
    want = {k: v for entries in ref.entries.values() for k, v in entries.items()}
    have: dict[bytes, object] = {}
    holders: dict[bytes, list[int]] = defaultdict(list)
    for instance, entries in sorted(got.entries.items()):
        for key, entry in entries.items():
            holders[key].append(instance)
            have[key] = entry
    for key, where in sorted(holders.items()):
        if len(where) > 1:
            out.append(Violation("placement", flow_of(key), f"entry {key.hex()} held by "
                                                           f"instances {where}"))
    for key in sorted(set(want) | set(have)):
        a, b = want.get(key), have.get(key)
        flow = flow_of(key)
        set_back = flow in lagging and not got.flows_sync
        if a is not None and b is None and set_back:
            got.cost["entries lost (asynchronous map)"] += 1
            continue
        if a is None or b is None:
            which = "only in the scaled run" if a is None else "missing in the scaled run"
            out.append(Violation("state", flow, f"entry {key.hex()} {which}"))
            continue
        fa = {n: v for n, v in vars(a).items() if n not in ignored}
        fb = {n: v for n, v in vars(b).items() if n not in ignored}
        if set_back:
            fa = {n: v for n, v in fa.items() if n in ("packets", "bytes")}
        if fa != fb:
            diff = lag_differs(fa, fb, ("packets", "bytes") if flow in lagging else (),
                               got.cost)
            if diff:
                out.append(Violation("state", flow, f"entry {key.hex()} differs "
                                                    f"(reference, scaled): {diff}"))
            else:
                got.cost["entries set back by a kill"] += 1


def held_once(run: RunRecord, name: str, out: list[Violation]) -> dict[bytes, dict[str, Any]]:
    """Map ``name``'s MultiWriter objects over every instance of ``run``; one held by two
    instances is a violation (kind ``shared``)."""
    held: dict[bytes, dict[str, Any]] = {}
    for instance, objects in sorted(run.objects.get(name, {}).items()):
        for key, attrs in objects.items():
            if key in held:
                out.append(Violation("shared", None, f"{name}[{key.hex()}] held by two "
                                                     f"instances (one is {instance})"))
            held[key] = attrs
    return held


def _objects(ref: RunRecord, got: RunRecord, out: list[Violation], above: int = 0) -> None:
    """MultiWriter objects: each at one instance (its home), equal but for clocks; after a
    kill, set back or counted again (``kill_cost``) at most by ``above``."""
    for name in sorted(set(ref.objects) | set(got.objects)):
        want = {k: v for held in ref.objects.get(name, {}).values() for k, v in held.items()}
        have = held_once(got, name, out)
        for key in sorted(set(want) | set(have)):
            a = {n: v for n, v in want.get(key, {}).items() if n not in CLOCK_FIELDS}
            b = {n: v for n, v in have.get(key, {}).items() if n not in CLOCK_FIELDS}
            if a != b and got.kills and at_most(a, b, above):
                got.cost["objects set back or counted again after a kill"] += 1
            elif a != b:
                out.append(Violation("shared", None, f"{name}[{key.hex()}] (reference, "
                                                     f"scaled): {a} vs {b}"))
