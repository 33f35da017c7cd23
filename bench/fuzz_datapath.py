"""A fuzzing campaign through the steering and monitor programs (needs root): N hostile
frames each (random bytes, truncations and bit flips of valid frames), one packet of an
established flow after every ten. Prints every frame's reason and checks that each frame was
counted once and that the established flow's packets were all forwarded.

    .venv/bin/python bench/fuzz_datapath.py [--frames 1000000] [--seed 1]
"""

from __future__ import annotations

import argparse
import ctypes as ct
import sys
import time

from scapy.compat import raw
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from s6nf.agent.fuzz import run_campaign, verdicts
from s6nf.agent.loader import Program, load
from s6nf.agent.maps import FlowTable, SteeringMaps
from s6nf.agent.structs import FwdTarget
from s6nf.agent.verdicts import Reason
from s6nf.keys import DEFAULT_BUCKETS

ESTABLISHED = raw(Ether() / IP(src="10.9.0.1", dst="10.9.0.2") / TCP(sport=1234, dport=80,
                                                                       flags="A"))


def counts(prog: Program) -> dict[str, int]:
    with prog.map("stats", ct.c_uint32, ct.c_uint64) as stats:
        known = set(Reason._value2member_map_)
        return {Reason(k.value).name.lower(): sum(v.value for v in vals)
                for k, vals in stats.items_percpu() if k.value in known}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    steer, monitor = load("steer"), load("monitor")
    failed = False
    try:
        with SteeringMaps.of(steer) as maps:
            maps.apply_key_space({b: FwdTarget.of(1, bytes(6)) for b in range(DEFAULT_BUCKETS)})
            maps.set_port(1, 1)
        with FlowTable.of(monitor) as table:
            table.configure(1, bytes(6), bytes(6))
        for name, prog in (("steer", steer), ("monitor", monitor)):
            start = time.perf_counter()
            result = run_campaign(prog, args.seed, args.frames, ESTABLISHED)
            seconds = time.perf_counter() - start
            seen = counts(prog)
            total = verdicts({Reason[k.upper()]: v for k, v in seen.items()})
            ok = (total == result.frames + result.established_sent
                  and result.established_forwarded == result.established_sent)
            failed |= not ok
            print(f"{name}: {result.frames:,} hostile frames in {seconds:.1f} s; counted "
                  f"{total:,} packets (= frames + {result.established_sent:,} established); "
                  f"established forwarded {result.established_forwarded:,}/"
                  f"{result.established_sent:,} — {'ok' if ok else 'MISMATCH'}")
            for reason, n in sorted(seen.items(), key=lambda kv: -kv[1]):
                if n:
                    print(f"    {reason:<22}{n:>12,}")
    finally:
        steer.close()
        monitor.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
