"""Control-plane figures (needs root): P4Runtime write throughput, and the time a scale event
takes from `scale to N` until steering follows it, phase by phase.

1. Batched key_space MODIFY writes over P4Runtime (a real gRPC server on loopback), into the
   eBPF target (BPF maps, each batch atomic by copy swap) and the in-memory backend, side by
   side, for several batch sizes.
2. On the embedded testbed with four agents: scale 1 → 2 → 4 → 1 → 2, with each phase's time
   (as the controller measured it) and the total as the caller sees it. The P4Runtime server,
   the controller and the agents run each in its host's namespace and talk over the
   management network (s6nf.testbed.services); the total includes the console's pipe.

    .venv/bin/python bench/controller_scale.py [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from s6nf.agent.loader import load
from s6nf.agent.maps import SteeringMaps
from s6nf.agent.p4rt import MemoryBackend, SteeringBackend, serve
from s6nf.agent.p4rt.ebpf_backend import EbpfBackend
from s6nf.controller.model import Steer
from s6nf.controller.p4rt_client import DeviceConfig, P4RuntimeClient
from s6nf.controller.scaler import PHASES
from s6nf.keys import DEFAULT_BUCKETS
from s6nf.testbed.services import management_services
from s6nf.testbed.testbed import Testbed

BATCHES = (1, 64, 1024, 4096)


async def write_rate(backend: SteeringBackend, batch: int, rounds: int) -> float:
    """Entries per second for batches of ``batch`` MODIFY updates (median over rounds)."""
    with serve(backend, "127.0.0.1:0", device_id=1) as server:
        client = P4RuntimeClient(DeviceConfig(server.address))
        await client.connect()
        await client.ensure_pipeline()
        everything = {b: Steer(1, bytes(6)) for b in range(DEFAULT_BUCKETS)}
        await client.write_key_space(everything, set())
        present = set(everything)
        rates = []
        for r in range(rounds):
            updates = {b: Steer(1 + (r + b) % 2, bytes([2, 0, 0, 0, 0, r % 256]))
                       for b in range(batch)}
            writes = max(1, min(32, 4096 // batch))
            start = time.perf_counter()
            for _ in range(writes):
                await client.write_key_space(updates, present)
            rates.append(writes * batch / (time.perf_counter() - start))
        await client.close()
        return statistics.median(rates)


async def p4runtime_figures(rounds: int) -> None:
    prog = load("steer")
    maps = SteeringMaps.of(prog)
    try:
        print("P4Runtime key_space writes (entries/s, median of rounds, loopback gRPC)")
        print(f"{'batch':>6}{'eBPF target':>14}{'in-memory':>12}{'eBPF/mem':>10}")
        for batch in BATCHES:
            ebpf = await write_rate(EbpfBackend(maps), batch, rounds)
            memory = await write_rate(MemoryBackend(), batch, rounds)
            print(f"{batch:>6}{ebpf:>14,.0f}{memory:>12,.0f}{ebpf / memory:>10.2f}")
    finally:
        maps.close()
        prog.close()


def scale_figures(tmp: Path) -> None:
    """The scale steps with every component in its host's namespace over the management
    network (``s6nf.testbed.services``), driven through the controller's API as ``s6nf
    scale`` on the controller host would."""
    tb = Testbed(f"bc{os.getpid() % 100000}")
    try:
        tb.up(4, steer=False)
        with management_services(tb, tmp / "state.json") as plane:
            plane.wait_registered(4)
            print(f"\nscale events over the management network (controller {plane.address}, "
                  "4 agents, eBPF target), ms")
            print(f"{'step':<8}{'moved':>6}" + "".join(f"{p:>10}" for p in (*PHASES, "total")))
            for count in (1, 2, 4, 1, 2):
                start = time.perf_counter()
                outcome = plane.scale_to(count)
                total = (time.perf_counter() - start) * 1e3
                times = {p["name"]: f"{p['seconds'] * 1e3:.1f}" for p in outcome["phases"]}
                print(f"{'to ' + str(count):<8}{outcome['moved']:>6}"
                      + "".join(f"{times.get(p, '-'):>10}" for p in PHASES) + f"{total:>10.1f}")
                if not outcome["ok"]:
                    print(f"  FAILED: {outcome}")
    finally:
        tb.down()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(p4runtime_figures(args.rounds))
    with tempfile.TemporaryDirectory() as tmp:
        scale_figures(Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
