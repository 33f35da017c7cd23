"""DSO runtime figures on this machine (not a test): run ``python -m bench.dso_bench``.

Reports local SingleWriter access time, remote strict call latency (p50/p99, loopback, agents
in separate processes), untether throughput per sending agent, and migration objects/s, each
with its ratio to the target (>= 1.0 means the target is met).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import marshal
import statistics
import time

from s6nf.agent.dso import AgentConfig, DsoAgent, Mode, MwMap, Schema, SwMap, untether
from s6nf.agent.dso.host import AgentProcess, timed_move_all
from s6nf.agent.dso.wire import Kind, decode_frame, encode_frame, encode_message
from s6nf.keyspace import KeySpace, initial


class Flow:
    def __init__(self) -> None:
        self.packets = 0
        self.bytes = 0


class Counter:
    def __init__(self) -> None:
        self.n = 0

    @untether
    def add(self, k: int) -> None:
        self.n += k

    def read(self) -> int:
        return self.n


FLOWS = SwMap(1, "flows", Flow)
COUNTERS = MwMap(2, "counters", Counter)
SCHEMA = Schema([FLOWS, COUNTERS])
HOST = "127.0.0.1"


def key_homed_at(ks: KeySpace, home: int, start: int = 0) -> bytes:
    i = start
    while True:
        key = i.to_bytes(4, "big")
        if ks.home(key) == home:
            return key
        i += 1


async def strict_latencies(agent: DsoAgent, key: bytes, n: int) -> list[int]:
    counters = agent.mw(COUNTERS)
    out = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        await counters.call(key, Counter.read)
        out.append(time.perf_counter_ns() - t0)
    return out


async def untether_run(agent: DsoAgent, key: bytes, n: int) -> tuple[float, int]:
    counters = agent.mw(COUNTERS)
    before = await counters.call(key, Counter.read)
    t0 = time.perf_counter()
    for i in range(n):
        counters.cast(key, Counter.add, 1)
        if i % 512 == 511:
            await asyncio.sleep(0)
    total = await counters.call(key, Counter.read)
    return time.perf_counter() - t0, total - before


async def populate(agent: DsoAgent, n: int) -> int:
    flows = agent.sw(FLOWS)
    made = 0
    i = 0
    while made < n:
        key = (1 << 31 | i).to_bytes(4, "big")
        i += 1
        if agent.home_of(key) != agent.me:
            continue
        async with flows.access(key) as flow:
            flow.packets = i
        made += 1
    return made


def codec_ns_per_message(n: int = 200_000, batch: int = 64) -> float:
    """Encode, frame and decode one CALL message (4-byte key, marshalled args), batched."""
    body = marshal.dumps((1,))
    t0 = time.perf_counter_ns()
    for start in range(0, n, batch):
        msgs = [encode_message(Kind.CALL, 0, 2, 0, 1, start + i, b"\x00\x00\x00\x01", body)
                for i in range(batch)]
        for msg in decode_frame(encode_frame(msgs)):
            marshal.loads(msg.body)
    return (time.perf_counter_ns() - t0) / n


async def local_access_ns(n: int, mode: Mode = Mode.S6) -> float:
    ks = initial([0], 64)
    async with DsoAgent(AgentConfig(0, mode), SCHEMA, ks) as agent:
        flows = agent.sw(FLOWS)
        key = b"\x00\x00\x00\x01"
        async with flows.access(key) as flow:
            flow.packets = 0
        t0 = time.perf_counter_ns()
        for _ in range(n):
            async with flows.access(key) as flow:
                flow.packets += 1
        return (time.perf_counter_ns() - t0) / n


def remote_figures(
    procs: list[AgentProcess], key: bytes, calls: int, casts: int
) -> dict[str, float]:
    procs[0].run("bench.dso_bench:strict_latencies", key, 200)
    lat = sorted(procs[0].run("bench.dso_bench:strict_latencies", key, calls))
    elapsed, applied = procs[0].run("bench.dso_bench:untether_run", key, casts, timeout_s=120)
    if applied != casts:
        raise SystemExit(f"untether lost calls: sent {casts}, applied {applied}")
    return {
        "strict_p50_us": statistics.median(lat) / 1000,
        "strict_p99_us": lat[int(len(lat) * 0.99)] / 1000,
        "untether_ops_per_s": casts / elapsed,
    }


def migration_figure(
    procs: list[AgentProcess], ks: KeySpace, addresses: dict[int, str], objects: int
) -> float:
    """Objects/s moved when every bucket goes from agent 0 to agent 1."""
    made: int = procs[0].run("bench.dso_bench:populate", objects, timeout_s=120)
    rate = made / timed_move_all(procs, ks, addresses, to=1)
    held = len(procs[1].run("s6nf.agent.dso.host:held", FLOWS.map_id, timeout_s=60))
    if held != made:
        raise SystemExit(f"migration lost objects: moved {made}, new home holds {held}")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--casts", type=int, default=200_000)
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--mode", choices=[m.value for m in Mode], default=Mode.S6.value,
                        help="runtime mode of every agent (DESIGN.md §6)")
    opts = parser.parse_args()
    mode = Mode(opts.mode)
    print(f"mode {mode.value}")

    results: dict[str, float] = {}
    results["local_access_ns"] = asyncio.run(local_access_ns(200_000, mode))
    results["codec_ns_per_message"] = codec_ns_per_message()
    ks = initial([0, 1], 64)
    schema = "bench.dso_bench:SCHEMA"
    procs = [AgentProcess(AgentConfig(i, mode), schema, ks, f"{HOST}:0") for i in (0, 1)]
    try:
        addresses = {p.instance: f"{HOST}:{p.port}" for p in procs}
        for p in procs:
            p.run("s6nf.agent.dso.host:set_addresses", addresses)
        results.update(remote_figures(procs, key_homed_at(ks, 1), opts.calls, opts.casts))
        if mode is Mode.LOCAL_ONLY:
            print("local-only: calls run locally and nothing migrates; no migration figure")
        else:
            results["migration_objects_per_s"] = migration_figure(
                procs, ks, addresses, opts.objects
            )
    finally:
        for p in procs:
            p.stop()
    report(results)


def report(results: dict[str, float]) -> None:
    targets = {
        "local_access_ns": (2000.0, False),
        "strict_p50_us": (300.0, False),
        "untether_ops_per_s": (100_000.0, True),
        "migration_objects_per_s": (100_000.0, True),
    }
    for name, value in results.items():
        if name in targets:
            target, higher = targets[name]
            ratio = value / target if higher else target / value
            print(f"{name:26s} {value:14.1f}   target {target:>10.0f}   ratio {ratio:5.2f}")
        else:
            print(f"{name:26s} {value:14.1f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
