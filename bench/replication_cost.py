"""What backups cost the NAT (needs root): new flows per second through one agent's slow path
with replication off, async, declared and sync, as ratios to off; the agent time of a full
replication pass (every entry sent, as after a key-space change); and of the passes of normal
operation, which read one slice of the map each (``replicate_sweep``): the longest pass with
nothing changed, and the longest while every entry's counters changed once (as the kernel
changes them), over the passes it took to send them all.

Two simulated instances (s6nf.nfs.sim: the real NAT program by BPF_PROG_TEST_RUN, real agents
on 127.0.0.1 state channels); instance 0 gets ``--flows`` first packets of new flows homed at
it, its backups live at instance 1. The kernel punts them all (not timed); the agent is timed
until every flow was translated and released, as bench/nf_cost.py does for one instance.
Established flows never reach an agent, so replication costs their packets nothing in the
kernel; what it takes is agent CPU (the pass figure) on the machine the kernel also runs on.

    .venv/bin/python -m bench.replication_cost [--flows N] [--rounds R] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

from bench.nf_cost import new_flow
from s6nf.agent.dso import Replicas
from s6nf.agent.dso.ebpf_storage import EbpfStorage
from s6nf.agent.structs import NatEntryRecord
from s6nf.agent.test_run import run_xdp
from s6nf.keys import FlowKey
from s6nf.keyspace import initial
from s6nf.nfs.kinds import nat_kind
from s6nf.nfs.nat import NatConfig
from s6nf.nfs.portpool import PortRange
from s6nf.nfs.sim import Output, SimInstance

MODES = (Replicas.OFF, Replicas.ASYNC, Replicas.DECLARED, Replicas.SYNC)
NAT = NatConfig("198.51.100.1", PortRange(1024, 65535, shards=16, lease=256))


def frames_homed_at_zero(flows: int) -> list[bytes]:
    ks = initial([0, 1], 4096)
    out: list[bytes] = []
    i = 0
    while len(out) < flows:
        key = FlowKey.of(f"10.{1 + i // 65536}.{i // 256 % 256}.{i % 256}", "10.2.0.1",
                         40000, 53, 17)
        if ks.home(key.canonical()) == 0:
            out.append(new_flow(i))
        i += 1
    return out


async def one_run(mode: Replicas, frames: list[bytes]) -> dict[str, float]:
    flows = len(frames)
    pages = 1 << max(10, (flows * 2112 // 4096 - 1).bit_length())
    defines = {"MAX_FLOWS": 4 * flows, "MAX_PEND": 2 * flows, "PUNT_RING_PAGES": pages}
    ks = initial([0, 1], 4096)
    outputs: list[Output] = []
    config = {"replicas": mode, "replicate_interval_s": 0.05}
    sims = [SimInstance(nat_kind(NAT), i, ks, config=config, defines=defines, outputs=outputs)
            for i in (0, 1)]
    try:
        addresses = {i: await sim.start() for i, sim in enumerate(sims)}
        for sim in sims:
            sim.agent.set_addresses(addresses)
        for frame in frames:
            run_xdp(sims[0].fds[0], frame)
        start = time.perf_counter()
        await sims[0].settle()
        seconds = time.perf_counter() - start
        if sims[0].slow.counters.reinjected != flows:
            raise SystemExit(f"{mode.value}: {sims[0].slow.counters.reinjected} of {flows} "
                             "flows left the slow path")
        result = {"new_flows_per_s": flows / seconds}
        agent = sims[0].agent
        if mode is not Replicas.OFF:
            start = time.perf_counter()
            held = await agent.resend_all()
            result["pass_us_per_entry"] = (time.perf_counter() - start) / held * 1e6
            result |= await sweep_passes(agent, held)
        return result
    finally:
        for sim in sims:
            await sim.close()


async def sweep_passes(agent: Any, held: int) -> dict[str, float]:
    """The longest pass with nothing changed, and with every entry's packet count bumped in
    the kernel map (each pass timed until its copies are acknowledged)."""
    idle = []
    for _ in range(10):
        start = time.perf_counter()
        await agent.flush_replicas()
        idle.append(time.perf_counter() - start)
    for ms in agent.maps.values():
        if isinstance(ms.storage, EbpfStorage):
            raw = ms.storage.raw
            at, size = NatEntryRecord.field_offset("packets")[0], 8
            for key, value in raw.items():
                count = int.from_bytes(value[at:at + size], "little") + 1
                raw.update(key, value[:at] + count.to_bytes(size, "little") + value[at + size:])
    changed, sent = [], agent.replica_counters.copies_sent
    while agent.replica_counters.copies_sent - sent < held:
        start = time.perf_counter()
        await agent.flush_replicas()
        changed.append(time.perf_counter() - start)
    return {"idle_pass_ms": max(idle) * 1e3, "changed_pass_ms": max(changed) * 1e3,
            "sweep_passes": agent.sweep_passes(), "entries": held}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    frames = frames_homed_at_zero(args.flows)
    runs: dict[Replicas, list[dict[str, float]]] = {m: [] for m in MODES}
    for _ in range(args.rounds):
        for mode in MODES:
            runs[mode].append(asyncio.run(one_run(mode, frames)))
    base = statistics.median(r["new_flows_per_s"] for r in runs[Replicas.OFF])
    result: dict[str, Any] = {}
    print(f"NAT slow path, {args.flows} new flows at one agent of two, median of "
          f"{args.rounds} interleaved rounds")
    print(f"{'replication':<12}{'new flows/s':>12}{'x off':>8}{'full pass us/entry':>20}"
          f"{'pass ms idle':>14}{'pass ms changed':>17}{'passes':>8}")
    for mode in MODES:
        rate = statistics.median(r["new_flows_per_s"] for r in runs[mode])
        figures: dict[str, float | None] = {"new_flows_per_s": rate, "ratio_to_off": rate / base}
        for name in ("pass_us_per_entry", "idle_pass_ms", "changed_pass_ms", "sweep_passes",
                     "entries"):
            got = [r[name] for r in runs[mode] if name in r]
            figures[name] = statistics.median(got) if got else None
        result[mode.value] = figures
        cells = "".join(("" if figures[n] is None else f"{figures[n]:.2f}").rjust(w) for n, w in
                        (("pass_us_per_entry", 20), ("idle_pass_ms", 14),
                         ("changed_pass_ms", 17), ("sweep_passes", 8)))
        print(f"{mode.value:<12}{rate:>12,.0f}{rate / base:>8.2f}{cells}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
