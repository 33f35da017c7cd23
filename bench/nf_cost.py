"""Each NF's cost (needs root): fast-path ns per packet next to the floor, and new flows per
second through the slow path (punt ring → micro-threads → DSO → re-injection → release).

Fast path: each NF's program with the flow's entry ready, the floor and a bare XDP_TX program
measured side by side by BPF_PROG_TEST_RUN, rounds interleaved (as bench/fastpath_cost.py).
BPF_PROG_TEST_RUN repeats on one buffer, so the NAT entry translates the flow to itself: every
rewrite and checksum update still runs, and the next repetition sees the same packet. The
monitor runs with its agent's punt mode on; the IDS entry is a flow that is not inspected
(an inspected flow's payload always goes to the agent).

Slow path: one simulated instance (s6nf.nfs.sim) per NF gets ``--flows`` first packets of new
flows; the kernel punts them all (its time is not counted), then the agent's slow path is timed
until every flow has been handled and released: new flows per second per agent. The IDS's new
flows match a rule's port, so the rules run on each first packet, and each comes from its own
source address (one port-scan window object per flow).

    .venv/bin/python bench/nf_cost.py [--flows N] [--repeat N] [--rounds R] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes as ct
import json
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from scapy.compat import raw
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from s6nf.agent.loader import Program, load
from s6nf.agent.maps import FlowTable
from s6nf.agent.structs import (
    FlowKeyC,
    FlowStats,
    FlowStatsRecord,
    IdsFlowRecord,
    NatEntryRecord,
)
from s6nf.agent.test_run import interleaved_median, run_xdp
from s6nf.keys import FlowKey
from s6nf.keyspace import initial
from s6nf.nfs.ids import IdsConfig
from s6nf.nfs.ids_maps import IdsTables
from s6nf.nfs.kinds import ids_kind, monitor_kind, nat_kind
from s6nf.nfs.nat import NatConfig
from s6nf.nfs.nat_maps import NatTables
from s6nf.nfs.portpool import PortRange
from s6nf.nfs.rules import RuleSet
from s6nf.nfs.sim import NfKind, SimInstance

PACKET = raw(Ether(dst="02:00:00:00:00:01") / IP(src="10.1.0.1", dst="10.2.0.1")
             / UDP(sport=40000, dport=53) / bytes(18))
FLOW = FlowKey.of("10.1.0.1", "10.2.0.1", 40000, 53, 17)
NFS = ("nat", "monitor", "ids")
IDS_RULES = RuleSet.parse([
    'alert udp any any -> any 53 (msg:"dns tunnel"; content:"tunnel"; sid:1;)',
    r'alert udp any any -> any 53 (msg:"long label"; pcre:"/[a-z]{60}/i"; sid:2;)'])


def _be(value: int, size: int) -> int:
    return int.from_bytes(value.to_bytes(size, "big"), "little")


def _nat() -> Program:
    nat = load("nat")
    with NatTables.of(nat) as tables:
        tables.configure(0, 1, bytes(6), bytes(6))
        entry = NatEntryRecord(orig_saddr=_be(FLOW.src, 4), new_saddr=_be(FLOW.src, 4),
                               new_daddr=_be(FLOW.dst, 4), orig_sport=_be(FLOW.sport, 2),
                               new_sport=_be(FLOW.sport, 2), new_dport=_be(FLOW.dport, 2),
                               ready=1)
        tables.flows().update(FlowKeyC.from_flow(FLOW), tables.flows().value_type
                              .from_buffer_copy(entry.to_bytes()))
    return nat


def _monitor() -> Program:
    monitor = load("monitor")
    with FlowTable.of(monitor) as table:
        table.configure(1, bytes(6), bytes(6))
        table.punt_new_flows(True)
        table.flow_map().update(FlowKeyC.from_flow(FLOW), FlowStats.from_buffer_copy(
            FlowStatsRecord(ready=1).to_bytes()))
    return monitor


def _ids() -> Program:
    ids = load("ids")
    with IdsTables.of(ids) as tables:
        tables.configure(0, 1, bytes(6), bytes(6))
        tables.flows().update(FlowKeyC.from_flow(FLOW), tables.flows().value_type
                              .from_buffer_copy(IdsFlowRecord(ready=1).to_bytes()))
    return ids


FAST: dict[str, Callable[[], Program]] = {"nat": _nat, "monitor": _monitor, "ids": _ids}


def fast_path_programs() -> dict[str, Program]:
    floor = load("floor")
    with floor.map("flows", FlowKeyC, FlowStats) as flows:
        flows.update(FlowKeyC.from_flow(FLOW), FlowStats())
    return {"bare_tx": load("bare_tx"), "floor": floor} | {n: FAST[n]() for n in NFS}


def fast_path(repeat: int, rounds: int) -> dict[str, float]:
    programs = fast_path_programs()
    try:
        ns = interleaved_median({name: partial(run_xdp, prog.fd, PACKET)
                                 for name, prog in programs.items()}, repeat, rounds)
        for name in NFS:
            with programs[name].map("stats", ct.c_uint32, ct.c_uint64) as stats:
                forwarded = sum(v.value for v in stats.lookup_percpu(ct.c_uint32(0)) or [])
            if forwarded < repeat:
                raise SystemExit(f"{name} forwarded {forwarded} of {repeat}+ runs: not its "
                                 "fast path")
        return ns
    finally:
        for prog in programs.values():
            prog.close()


def new_flow(i: int, payload: bytes = bytes(18)) -> bytes:
    return raw(Ether(dst="02:00:00:00:00:01")
               / IP(src=f"10.{1 + i // 65536}.{i // 256 % 256}.{i % 256}", dst="10.2.0.1")
               / UDP(sport=40000, dport=53) / payload)


def _kind(name: str, flows: int) -> NfKind:
    if name == "nat":
        return nat_kind(NatConfig("198.51.100.1", PortRange(1024, 65535, shards=16, lease=256)))
    if name == "monitor":
        return monitor_kind()
    return ids_kind(IdsConfig(IDS_RULES, scan_threshold=flows + 1))


async def slow_path(name: str, flows: int) -> dict[str, float]:
    pages = 1 << max(10, (flows * 2112 // 4096 - 1).bit_length())
    nf = SimInstance(_kind(name, flows), 0, initial([0], 4096),
                     defines={"MAX_FLOWS": 4 * flows, "MAX_PEND": 2 * flows,
                              "PUNT_RING_PAGES": pages})
    await nf.start()
    try:
        payload = b"\x03www\x07example\x03com\x00" if name == "ids" else bytes(18)
        frames = [new_flow(i, payload) for i in range(flows)]
        for frame in frames:
            run_xdp(nf.fds[0], frame)
        start = time.perf_counter()
        await nf.settle()
        seconds = time.perf_counter() - start
        if len(nf.outputs) != flows or nf.slow.counters.reinjected != flows:
            raise SystemExit(f"{name} slow path let {len(nf.outputs)} of {flows} flows out")
        return {"flows": flows, "seconds": seconds, "new_flows_per_s": flows / seconds}
    finally:
        await nf.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    ns = fast_path(args.repeat, args.rounds)
    slow = {name: asyncio.run(slow_path(name, args.flows)) for name in NFS}
    floor = ns["floor"]
    print(f"Fast path (BPF_PROG_TEST_RUN, repeat={args.repeat}, median of {args.rounds} "
          f"interleaved rounds, {len(PACKET)}-byte UDP packet of an established flow)")
    print(f"{'program':<10}{'ns/pkt':>8}{'x floor':>9}")
    for name, value in ns.items():
        print(f"{name:<10}{value:>8.0f}{value / floor:>9.2f}")
    for name, s in slow.items():
        print(f"{name} slow path: {s['flows']} new flows in {s['seconds']:.2f} s = "
              f"{s['new_flows_per_s']:,.0f} new flows/s per agent")
    result: dict[str, Any] = {
        "ns_per_packet": ns, "ratio_to_floor": {k: v / floor for k, v in ns.items()},
        **{name: {"ns_per_packet": ns[name], "ratio_to_floor": ns[name] / floor,
                  "slow_path": slow[name]} for name in NFS}}
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
