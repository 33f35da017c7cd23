"""What an agent tells about its instance: the datapath's packets by reason, the occupancy of
its maps, the slow path's queue and outcomes, the NF's own counters and the migration's
progress. One source for the Prometheus metrics (``s6nf.agent.process``) and the ``Report``
answer of the control service that ``s6nf status`` shows."""

from __future__ import annotations

import ctypes as ct
import os
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, cast

from s6nf.agent import libbpf
from s6nf.agent.bpfmap import BpfMap, RawMap
from s6nf.agent.dso.agent import DsoAgent
from s6nf.agent.maps import ProgramStats
from s6nf.nfs.runtime import NfRuntime

OCCUPANCY_MAPS = ("flows", "nat_flows", "ids_flows", "pend", "released")
"""Maps whose entries and capacity are reported, where the instance has them: the NF's
per-flow map and the punt path's two per-flow maps (docs/punt-design.md)."""


def reasons(pin_dir: Path) -> dict[str, int]:
    """The instance's packets by verdict reason and note (lower-case names)."""
    with ProgramStats.pinned(pin_dir) as stats:
        return {r.name.lower(): n for r, n in sorted(stats.reason_counts().items())}


def occupancy(pin_dir: Path) -> dict[str, tuple[int, int]]:
    """map name → (entries, capacity) for each of ``OCCUPANCY_MAPS`` pinned in ``pin_dir``."""
    out: dict[str, tuple[int, int]] = {}
    for name in OCCUPANCY_MAPS:
        path = pin_dir / name
        if not path.exists():
            continue
        fd = libbpf.obj_get(str(path))
        try:
            info = libbpf.map_info(fd)
        finally:
            os.close(fd)
        with BpfMap.pinned(str(path), _opaque(int(info.key_size)),
                           _opaque(int(info.value_size))) as table:
            out[name] = (len(RawMap(table).keys()), table.max_entries)
    return out


def _opaque(size: int) -> type[ct.Structure]:
    """A ctypes structure of ``size`` bytes: counting keys needs no field of them."""
    return cast(type[ct.Structure], type(f"Opaque{size}", (ct.Structure,),
                                         {"_fields_": [("raw", ct.c_char * size)]}))


def migration(dso: DsoAgent) -> dict[str, int]:
    """Whether an epoch change is under way here (a prepared or an unretired epoch), what is
    left of it, and the objects moved so far (counters: they rise during one and then stay)."""
    status = dso.status()
    c = dso.counters
    return {"in_progress": int(dso.next is not None or dso.previous is not None),
            "to_push": status.to_push, "in_flight": status.in_flight,
            "pushed": c.pushed, "received": c.received_pushes, "pulled": c.pulled}


def slow_path(runtime: NfRuntime | None) -> dict[str, int]:
    """The punted packets by outcome and the queue depth (``backlog``); empty without an NF."""
    if runtime is None or runtime.slow is None:
        return {}
    out = dict(asdict(runtime.slow.counters))
    out["backlog"] = runtime.slow.backlog
    out["reinjection_dropped"] = runtime.reinjection_dropped
    return out


def nf_counters(runtime: NfRuntime | None) -> dict[str, int]:
    counters = None if runtime is None or runtime.nf is None else getattr(runtime.nf,
                                                                          "counters", None)
    if counters is None or not is_dataclass(counters) or isinstance(counters, type):
        return {}
    return {k: int(v) for k, v in asdict(counters).items()}


def agent_report(dso: DsoAgent, pin_dir: Path | None, runtime: NfRuntime | None
                 ) -> dict[str, Any]:
    """Everything above as JSON for the control service's ``Report``."""
    report: dict[str, Any] = {"instance": dso.me, "epoch": dso.epoch,
                              "migration": migration(dso), "slow_path": slow_path(runtime),
                              "nf": nf_counters(runtime),
                              "replication": {**vars(dso.replica_counters),
                                              "sweep_passes": dso.sweep_passes()}}
    if pin_dir is not None:
        report["packets"] = reasons(pin_dir)
        report["maps"] = {name: {"entries": n, "capacity": cap}
                          for name, (n, cap) in occupancy(pin_dir).items()}
    return report
