"""The final NF state of a testbed run, in a form two runs of one trace can be compared in:
per-flow entries read from the instances' pinned maps (clock fields left out), and what the
agents' control services list (the asset monitor's assets and totals, the IDS's alerts).

The NAT's per-flow state is ``runner.state_placement`` (its flows are named by inside keys,
since public ports may differ between runs); the other NFs keep their packets' own keys.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from s6nf import cli_nf
from s6nf.agent.maps import FlowTable
from s6nf.agent.structs import FlowStatsRecord
from s6nf.nfs.ids_maps import IdsTables
from s6nf.testbed.testbed import Testbed
from s6nf.testbed.topology import instance_host

CLOCK_FIELDS = frozenset({"first_seen_ns", "last_seen_ns", "ready", "pad", "pad2"})
"""Entry fields that hold clock readings (or the punt gate, or padding)."""
SETTLE_S = 1.1
"""Reads of the agents' lists this far apart must agree before they count as final: one-way
calls (the monitor's asset updates) travel in timed batches, and the agents answer the totals
from a ``@stale`` cache (bound 0.5 s; the monitor's longest is 1 s), so the later of two
reads this far apart is fresh."""


def entry_state(tb: Testbed, nf: str) -> dict[str, Any]:
    """The monitor's or the IDS's entries over every instance: how many, how many keys are
    held at more than one instance, and per canonical key (hex) its fields but clocks."""
    held: list[tuple[bytes, dict[str, int]]] = []
    for i in tb.topology().instances:
        pins = tb.pin_dir(instance_host(i))
        if nf == "monitor":
            with FlowTable.pinned(pins) as table:
                held += [(k.canonical(), vars(FlowStatsRecord.from_bytes(bytes(v))))
                         for k, v in table.entries().items()]
        elif nf == "ids":
            with IdsTables.pinned(pins) as ids:
                held += [(k, vars(v)) for k, v in ids.entries().items()]
        else:
            raise ValueError(f"entry_state reads the monitor's and the IDS's maps, not {nf!r}")
    seen: dict[bytes, int] = {}
    flows: dict[str, dict[str, int]] = {}
    for key, fields in held:
        seen[key] = seen.get(key, 0) + 1
        flows[key.hex()] = {n: v for n, v in fields.items() if n not in CLOCK_FIELDS}
    return {"entries": len(seen), "held_twice": sum(1 for n in seen.values() if n > 1),
            "flows": dict(sorted(flows.items()))}


AskAgents = Callable[[str], Sequence[Any]]
"""Calls ``s6nf.Agent.<method>`` at every agent and returns their replies in instance order
(``ControlPlane.call_agents``: the agents listen on the management network only)."""


async def agent_state(ask: AskAgents, nf: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """What the agents list at the end of a run: the monitor's assets (clocks left out) and
    totals, the IDS's alerts; read until two reads ``SETTLE_S`` apart agree."""
    if nf not in ("monitor", "ids"):
        return {}
    deadline = time.monotonic() + timeout_s
    last: dict[str, Any] | None = None
    while True:
        now = await asyncio.to_thread(_read, ask, nf)
        if now == last or time.monotonic() > deadline:
            return now
        last = now
        await asyncio.sleep(SETTLE_S)


def _read(ask: AskAgents, nf: str) -> dict[str, Any]:
    if nf == "ids":
        return {"alerts": cli_nf.merge_alerts(ask("Alerts"))}
    report = cli_nf.merge_assets(ask("Assets"))
    assets = {a: {n: v for n, v in fields.items() if n not in CLOCK_FIELDS}
              for a, fields in report["assets"].items()}
    return {"assets": assets, "totals": report["totals"]}
