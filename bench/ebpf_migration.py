"""Migration of eBPF-backed SingleWriter state between two agents (not a test).

Run as root: ``.venv/bin/python -m bench.ebpf_migration [--entries N]``. Each agent runs in
its own process with its own monitor program; the DSO map ``monitor.flows`` is that
program's ``flows`` BPF map (``EbpfStorage``). Agent 0's map is filled, every bucket moves to
agent 1, and the bench reports entries migrated per second from the switch until agent 0 is
drained, next to the storage alone (export from one map and import into another in one
process, no network), which bounds what the agents can reach. Prints JSON.
"""

from __future__ import annotations

import argparse
import ctypes as ct
import json
import os
import time
import zlib

from s6nf.agent.dso import AgentConfig, DsoAgent, Schema, SwMap
from s6nf.agent.dso.ebpf_storage import EbpfStorage, RecordCodec
from s6nf.agent.dso.host import AgentProcess, timed_move_all
from s6nf.agent.loader import Program, load
from s6nf.agent.structs import FlowKeyC, FlowStats, FlowStatsRecord, NfConfig
from s6nf.keyspace import initial

HOST = "127.0.0.1"
MAP_ID = 1
_ENV = "S6NF_BENCH_MAX_FLOWS"
_PROGRAMS: list[Program] = []


def _storage() -> EbpfStorage[FlowStatsRecord]:
    """This process's monitor program, loaded once; its flows map is the storage."""
    if not _PROGRAMS:
        prog = load("monitor", defines={"MAX_FLOWS": int(os.environ.get(_ENV, "262144"))})
        with prog.map("nf_config", ct.c_uint32, NfConfig) as cfg:
            cfg.update(ct.c_uint32(0), NfConfig.of(1, bytes(6), bytes(6)))
        _PROGRAMS.append(prog)
    return EbpfStorage(_PROGRAMS[0].map("flows", FlowKeyC, FlowStats), FlowStatsRecord)


FLOWS = SwMap(MAP_ID, "monitor.flows", FlowStatsRecord, storage=_storage)
SCHEMA = Schema([FLOWS])
PY_FLOWS = SwMap(MAP_ID, "monitor.flows", FlowStatsRecord, codec=RecordCodec(FlowStatsRecord))
PY_SCHEMA = Schema([PY_FLOWS])
"""The same records kept in Python dicts: the runtime's cost without the BPF map."""


def flow_key(i: int) -> bytes:
    """A canonical UDP key, distinct for every ``i`` < 2**32."""
    return (b"\x0a" + i.to_bytes(3, "big") + b"\x0b\x00\x00\x01"
            + (1024 + i % 60000).to_bytes(2, "big") + b"\x00\x35\x11")


def records(keys: list[bytes]) -> list[tuple[bytes, bytes]]:
    return [(k, FlowStatsRecord(i + 1, 64 * (i + 1), 1000 + i, 2000 + i, i & 0xFF).to_bytes())
            for i, k in enumerate(keys)]


async def populate(agent: DsoAgent, n: int) -> int:
    storage = agent.maps[MAP_ID].storage
    keys: list[bytes] = []
    i = 0
    while len(keys) < n:
        key = flow_key(i)
        i += 1
        if agent.home_of(key) == agent.me:
            keys.append(key)
    entries = records(keys)
    for start in range(0, len(entries), 4096):
        storage.import_(entries[start:start + 4096])
    return len(keys)


async def digest(agent: DsoAgent) -> tuple[int, int]:
    """(entries, CRC-32 of every key and value in key order): equal before and after."""
    storage = agent.maps[MAP_ID].storage
    items = []
    for key in storage.snapshot():
        value = storage.get(key)
        if value is not None:
            items.append((key, value.to_bytes()))
    items.sort()
    return len(items), zlib.crc32(b"".join(k + v for k, v in items))


def storage_only(n: int) -> dict[str, float]:
    """Entries/s for export from one flows map and import into another, in 2048-entry
    batches, in one process: export (lookup-and-delete per key) and import (batch update)
    timed apart."""
    progs = [load("monitor", defines={"MAX_FLOWS": n}) for _ in range(2)]
    try:
        src, dst = (EbpfStorage(p.map("flows", FlowKeyC, FlowStats), FlowStatsRecord)
                    for p in progs)
        keys = [flow_key(i) for i in range(n)]
        src.import_(records(keys))
        exporting = importing = 0.0
        for start in range(0, n, 2048):
            t0 = time.perf_counter()
            batch = src.export(keys[start:start + 2048])
            t1 = time.perf_counter()
            dst.import_(batch)
            exporting += t1 - t0
            importing += time.perf_counter() - t1
        if len(dst) != n or len(src) != 0:
            raise SystemExit(f"storage-only move lost entries: {len(dst)} of {n} arrived")
        return {"entries_per_s": n / (exporting + importing), "export_entries_per_s":
                n / exporting, "import_entries_per_s": n / importing}
    finally:
        for p in progs:
            p.close()


def between_agents(n: int, push_batch: int, schema: str) -> dict[str, float]:
    ks = initial([0, 1], 64)
    procs = [AgentProcess(AgentConfig(i, push_batch=push_batch), f"bench.ebpf_migration:{schema}",
                          ks, f"{HOST}:0", start_timeout_s=60) for i in (0, 1)]
    try:
        addresses = {p.instance: f"{HOST}:{p.port}" for p in procs}
        for p in procs:
            p.run("s6nf.agent.dso.host:set_addresses", addresses)
        made = procs[0].run("bench.ebpf_migration:populate", n, timeout_s=120)
        before = procs[0].run("bench.ebpf_migration:digest", timeout_s=60)
        elapsed = timed_move_all(procs, ks, addresses, to=1)
        after = procs[1].run("bench.ebpf_migration:digest", timeout_s=60)
        left = procs[0].run("bench.ebpf_migration:digest", timeout_s=60)
        if after != before or left[0] != 0:
            raise SystemExit(f"migration changed state: before {before}, new owner {after}, "
                             f"old owner still has {left[0]}")
        return {"entries": made, "seconds": elapsed, "entries_per_s": made / elapsed}
    finally:
        for p in procs:
            p.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--push-batch", type=int, default=2048)
    opts = parser.parse_args()
    os.environ[_ENV] = str(max(1024, 2 * opts.entries))
    results = {
        "storage_only": storage_only(opts.entries),
        "between_agents": between_agents(opts.entries, opts.push_batch, "SCHEMA"),
        "between_agents_python_storage": between_agents(opts.entries, opts.push_batch,
                                                        "PY_SCHEMA"),
        "target_entries_per_s": 200_000,
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
