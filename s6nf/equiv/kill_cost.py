"""What a kill may cost, as docs/failover.md states it, for the comparison to leave out and
count; everything else must still equal the single instance's run.

- Packets: those inside the dead instance when it died and those steered to it until the
  failover moved its buckets (``RunRecord.excused``), and the replies to them the driver then
  could not send. The rest of each flow must leave byte for byte and in order.
- Per-flow entries of a flow that lost packets, or that the dead instance held: the kernel's
  counters (and, for a map the NF declares asynchronous, the whole entry) may lag behind; the
  fields a synchronous map promises (the NAT's translation) must be equal. A lagging field
  is compared "at most": a count no higher, flags a subset.
- MultiWriter objects are fed by calls from slow paths: packets lost and one-way calls in
  flight when an instance was declared dead (``RunRecord.casts_lost``) never reach them, and
  those of a map the NF declares asynchronous lose their home's last updates when the home
  dies. Their counts may lag; they may exceed the single instance's only by the flows an NF
  with an asynchronous per-flow map counted again (``recounted``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from s6nf.equiv.driver import RunRecord
from s6nf.equiv.trace import read_tag

Frames = dict[tuple[int, int], list[tuple[int, bytes]]]


def leave_out(ref: Frames, run: RunRecord, cost: Counter[str]) -> Frames:
    """``ref``'s frames without those the scaled run's kills may cost; counts them."""
    if not run.kills:
        return ref
    inside = set().union(*(k.inside for k in run.kills))
    steered = set().union(*(k.steered for k in run.kills))
    out: Frames = {}
    for side, frames in ref.items():
        kept = []
        for direction, frame in frames:
            tag = read_tag(frame)
            if tag is None or tag not in run.excused:
                kept.append((direction, frame))
            elif tag in inside:
                cost["packets lost inside a dead instance"] += 1
            elif tag in steered:
                cost["packets lost steered to a dead instance"] += 1
            else:
                cost["replies not sent (their packet was lost)"] += 1
        out[side] = kept
    return out


def count_kills(run: RunRecord, cost: Counter[str]) -> None:
    for k in run.kills:
        cost["kills"] += 1
        cost["copies promoted"] += k.promoted
        cost["objects without a copy"] += k.lost
    if run.casts_lost:
        cost["one-way calls lost"] += run.casts_lost


def lagging_flows(run: RunRecord, flow_of: Callable[[bytes, Any], int | None]) -> set[int]:
    """Flows whose entries a kill may have set back: they lost packets, or the dead instance
    held one of their entries (``flow_of(key, entry)`` names an entry's flow), or, for an
    asynchronously replicated map, one was on its way to it (lost with it, as any entry of
    such a map may be)."""
    flows = {tag[0] for tag in run.excused}
    for k in run.kills:
        held = list(k.held_flows.items())
        if not run.flows_sync:
            held += [(key, None) for key in k.arriving]
        for key, entry in held:
            flow = flow_of(key, entry)
            if flow is not None:
                flows.add(flow)
    return flows


def at_most(want: Any, have: Any, above: int = 0) -> bool:
    """``have`` is ``want`` or what it was earlier: counts no higher (but by ``above``: flows
    counted again), flags and keys a subset, texts equal or not yet set."""
    if isinstance(want, bool) or isinstance(have, bool):
        return bool(have) <= bool(want)
    if isinstance(want, int | float) and isinstance(have, int | float):
        return have <= want + above
    if isinstance(want, dict) and isinstance(have, dict):
        return all(at_most(want.get(k, 0), v, above) if k in want or above else False
                   for k, v in have.items())
    if isinstance(want, list | set | tuple) and isinstance(have, list | set | tuple):
        return len(set(have) - set(want)) <= above
    if isinstance(want, str) and isinstance(have, str):
        return have in (want, "")
    return bool(want == have)


def recounted(run: RunRecord, lagging: set[int]) -> int:
    """How often an NF may have counted a flow again after a kill: once per flow set back,
    when its per-flow map is asynchronous (the entry lost, its next packet looks new)."""
    return 0 if run.flows_sync or not run.kills else len(lagging)


def held_by_dead(run: RunRecord, name: str, key: bytes) -> bool:
    return any(key in k.held.get(name, ()) for k in run.kills)


def lag_differs(want: dict[str, Any], have: dict[str, Any], lagging: Iterable[str],
                cost: Counter[str]) -> dict[str, tuple[Any, Any]]:
    """Fields that differ beyond what a kill may cost: ``lagging`` ones compared "at most"
    (their shortfall in packets counted), the others equal."""
    lag = set(lagging)
    diff = {}
    for name, value in want.items():
        got = have.get(name)
        if got == value:
            continue
        if name in lag and at_most(value, got):
            if name == "packets":
                cost["counted packets lost"] += value - got
            continue
        diff[name] = (value, got)
    return diff

