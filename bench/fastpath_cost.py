"""Fast-path cost per packet, measured side by side with BPF_PROG_TEST_RUN (needs root).

Programs: the steering program and the monitor NF (each configured, the flow present), and two
references loaded in the same run: a bare XDP_TX program (the cost of running any program)
and the floor (parse + one hash-map lookup + XDP_TX, the least a stateful fast path must do).
Rounds are interleaved so a noisy neighbour hits every program alike; the median is reported.

    .venv/bin/python bench/fastpath_cost.py [--repeat N] [--rounds R] [--json FILE]
"""

from __future__ import annotations

import argparse
import ctypes as ct
import json
import sys
from functools import partial
from pathlib import Path

from scapy.compat import raw
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from s6nf.agent.loader import Program, load
from s6nf.agent.maps import SteeringMaps
from s6nf.agent.structs import FlowKeyC, FlowStats, FwdTarget, NfConfig
from s6nf.agent.test_run import interleaved_median, run_xdp
from s6nf.keys import DEFAULT_BUCKETS, FlowKey

PACKET = raw(Ether(dst="02:00:00:00:00:01") / IP(src="10.1.0.1", dst="10.2.0.1")
             / TCP(sport=40000, dport=80, flags="A") / bytes(10))
FLOW = FlowKey.of("10.1.0.1", "10.2.0.1", 40000, 80, 6)


def prepare() -> dict[str, Program]:
    steer = load("steer")
    with SteeringMaps.of(steer) as maps:
        maps.apply_key_space({b: FwdTarget.of(1 + b % 2, bytes(6)) for b in range(DEFAULT_BUCKETS)})
        maps.set_port(1, 1)
        maps.set_port(2, 1)
    monitor = load("monitor")
    with monitor.map("nf_config", ct.c_uint32, NfConfig) as cfg:
        cfg.update(ct.c_uint32(0), NfConfig.of(1, bytes(6), bytes(6)))
    floor = load("floor")
    with floor.map("flows", FlowKeyC, FlowStats) as flows:
        flows.update(FlowKeyC.from_flow(FLOW), FlowStats())
    return {"bare_tx": load("bare_tx"), "floor": floor, "steer": steer, "monitor": monitor}


def measure(programs: dict[str, Program], repeat: int, rounds: int) -> dict[str, float]:
    return interleaved_median({name: partial(run_xdp, prog.fd, PACKET)
                               for name, prog in programs.items()}, repeat, rounds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    programs = prepare()
    try:
        ns = measure(programs, args.repeat, args.rounds)
    finally:
        for prog in programs.values():
            prog.close()
    floor, bare = ns["floor"], ns["bare_tx"]
    print(f"fast-path cost per packet (BPF_PROG_TEST_RUN, repeat={args.repeat}, "
          f"median of {args.rounds} interleaved rounds, {len(PACKET)}-byte TCP packet)")
    print(f"{'program':<10}{'ns/pkt':>8}{'x floor':>9}{'x bare':>8}")
    for name, value in ns.items():
        print(f"{name:<10}{value:>8.0f}{value / floor:>9.2f}{value / bare:>8.2f}")
    result = {"ns_per_packet": ns, "ratio_to_floor": {k: v / floor for k, v in ns.items()},
              "repeat": args.repeat, "rounds": args.rounds, "packet_bytes": len(PACKET)}
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
