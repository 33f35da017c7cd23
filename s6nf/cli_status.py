"""``s6nf status`` at a glance: the controller's epoch and members, then one block per
instance from its agent's report (packets by verdict, slow-path queue, map occupancy,
migration progress)."""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]


def _packets(packets: dict[str, int]) -> str:
    verdicts = {r: n for r, n in packets.items() if not r.startswith("note_")}
    drops = {r: n for r, n in verdicts.items() if r.startswith("drop_") and n}
    shown = [f"{r} {verdicts[r]:,}" for r in ("forward", "consumed", "punted") if verdicts.get(r)]
    text = ", ".join(shown) or "none yet"
    if drops:
        top = sorted(drops.items(), key=lambda kv: -kv[1])[:3]
        text += f"; dropped {sum(drops.values()):,} (" + ", ".join(
            f"{r.removeprefix('drop_')} {n:,}" for r, n in top) + ")"
    return text


def _maps(maps: dict[str, dict[str, int]]) -> str:
    return ", ".join(f"{name} {m['entries']:,}/{m['capacity']:,} "
                     f"({100 * m['entries'] / max(1, m['capacity']):.0f}%)"
                     for name, m in maps.items()) or "-"


def _migration(m: dict[str, int]) -> str:
    state = (f"in progress: {m['to_push']:,} to push, {m['in_flight']:,} in flight"
             if m.get("in_progress") else "idle")
    return (f"{state}; moved so far: pushed {m['pushed']:,}, received {m['received']:,}, "
            f"pulled {m['pulled']:,}")


def _queue(slow: dict[str, int]) -> str:
    if not slow:
        return "no NF slow path"
    refused = slow.get("overflowed", 0)
    return (f"{slow.get('backlog', 0):,} queued; punted {slow.get('punted', 0):,}, "
            f"re-injected {slow.get('reinjected', 0):,}, dropped by the NF "
            f"{slow.get('dropped_by_nf', 0):,}, refused (queue full) {refused:,}, failed "
            f"{slow.get('failed', 0):,}")


def format_status(reply: Json) -> str:
    phase = reply.get("scale_phase")
    lines = [f"epoch {reply['epoch']}; scale event: {phase or 'none running'}; members "
             f"{sorted(m['instance'] for m in reply['members'])}; silent {reply['silent']}"]
    load = reply.get("load", {})
    for instance, r in (reply.get("instances") or {}).items():
        head = f"instance {instance}: {load.get(instance, 0):,} buckets"
        if "error" in r:
            lines.append(f"{head}; agent did not answer: {r['error']}")
            continue
        lines.append(f"{head}, epoch {r.get('epoch')}")
        if "packets" in r:
            lines.append(f"  packets    {_packets(r['packets'])}")
        lines.append(f"  slow path  {_queue(r.get('slow_path', {}))}")
        if "maps" in r:
            lines.append(f"  maps       {_maps(r['maps'])}")
        lines.append(f"  migration  {_migration(r['migration'])}")
        nf = {k: v for k, v in r.get("nf", {}).items() if v}
        if nf:
            lines.append("  NF         " + ", ".join(f"{k.replace('_', ' ')} {v:,}"
                                                    for k, v in nf.items()))
    return "\n".join(lines)
