"""Cost of measurement per packet, with BPF_PROG_TEST_RUN (needs root).

The sink on a packet without the measurement header (receive counters and throughput slot
only) and with one (plus sequence state and a latency sample), the stamper (TC) on a packet
without the header (parse only: the TC test run's own cost) and with one, and bare XDP_TX as
the reference. ``--baseline-ebpf DIR`` also loads the sink
from another ebpf/ tree (e.g. ``git archive <rev> ebpf | tar -x -C /tmp/old``) to compare
before and after. Rounds are interleaved; the median is reported.

    .venv/bin/python bench/measure_cost.py [--repeat N] [--rounds R] [--baseline-ebpf DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from scapy.compat import raw
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from s6nf.agent.loader import Hook, Program, load
from s6nf.agent.test_run import RunResult, interleaved_median, run_tc, run_xdp
from s6nf.measure.header import MeasHeader

BASE = Ether(dst="02:00:00:00:00:01") / IP(src="10.1.0.1", dst="10.2.0.1") / UDP(sport=1, dport=2)
PLAIN = raw(BASE / bytes(26))
MEASURED = raw(BASE / MeasHeader(0, time.monotonic_ns()).pack() / bytes(10))

Runner = Callable[[int, bytes, int], RunResult]


def load_from(ebpf_dir: Path, program: str) -> Program:
    saved = os.environ.get("S6NF_EBPF_DIR")
    os.environ["S6NF_EBPF_DIR"] = str(ebpf_dir)
    try:
        return load(program)
    finally:
        if saved is None:
            del os.environ["S6NF_EBPF_DIR"]
        else:
            os.environ["S6NF_EBPF_DIR"] = saved


def prepare(baseline: Path | None) -> dict[str, tuple[Program, bytes, Runner]]:
    sink = load("sink")
    stamp = load("stamp", hook=Hook.TC_EGRESS)
    cases: dict[str, tuple[Program, bytes, Runner]] = {
        "bare_tx": (load("bare_tx"), PLAIN, run_xdp),
        "sink, no header": (sink, PLAIN, run_xdp),
        "sink, measured": (sink, MEASURED, run_xdp),
        "stamp, no header": (stamp, PLAIN, run_tc),
        "stamp, stamped": (stamp, MEASURED, run_tc),
    }
    if baseline is not None:
        cases["sink (baseline)"] = (load_from(baseline, "sink"), PLAIN, run_xdp)
    return cases


def measure(cases: dict[str, tuple[Program, bytes, Runner]], repeat: int,
            rounds: int) -> dict[str, float]:
    return interleaved_median({name: partial(run, prog.fd, packet)
                               for name, (prog, packet, run) in cases.items()}, repeat, rounds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--baseline-ebpf", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    cases = prepare(args.baseline_ebpf)
    try:
        ns = measure(cases, args.repeat, args.rounds)
    finally:
        for prog in {id(c[0]): c[0] for c in cases.values()}.values():
            prog.close()
    bare = ns["bare_tx"]
    print(f"measurement cost per packet (BPF_PROG_TEST_RUN, repeat={args.repeat}, "
          f"median of {args.rounds} interleaved rounds)")
    print(f"{'program':<18}{'ns/pkt':>8}{'x bare':>8}")
    for name, value in ns.items():
        print(f"{name:<18}{value:>8.0f}{value / bare:>8.2f}")
    if args.json:
        args.json.write_text(json.dumps({"ns_per_packet": ns, "repeat": args.repeat,
                                         "rounds": args.rounds}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
