"""Reading a running testbed's counters into one snapshot: where every packet went."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

from s6nf.agent import libbpf
from s6nf.agent.maps import FlowTable, SinkCounters, SteeringMaps
from s6nf.agent.verdicts import Reason, verdict_total
from s6nf.keys import FlowKey, unpack_canonical
from s6nf.netns import entered
from s6nf.nfs.nat_maps import NatTables
from s6nf.testbed.testbed import Testbed
from s6nf.testbed.topology import instance_host


@dataclass
class Snapshot:
    steered_by_bucket: dict[int, tuple[int, int]]
    steer_reasons: dict[Reason, int]
    instance_flows: dict[int, dict[FlowKey, int]]
    """instance → canonical flow → packets counted by that instance's monitor."""
    instance_reasons: dict[int, dict[Reason, int]]
    sink_flows: dict[FlowKey, int]
    sink_reasons: dict[Reason, int]
    programs: dict[str, dict[str, int]] = field(default_factory=dict)
    """host → interface → attached XDP program id (0 when none)."""

    @property
    def steered(self) -> int:
        return sum(p for p, _ in self.steered_by_bucket.values())

    @property
    def at_instances(self) -> int:
        return sum(sum(f.values()) for f in self.instance_flows.values())

    @property
    def received(self) -> int:
        return self.sink_reasons.get(Reason.CONSUMED, 0)


def snapshot(testbed: Testbed) -> Snapshot:
    topo = testbed.topology()
    with SteeringMaps.pinned(testbed.pin_dir("sw")) as sw:
        buckets, steer_reasons = sw.bucket_counters(), sw.reason_counts()
    flows: dict[int, dict[FlowKey, int]] = {}
    reasons: dict[int, dict[Reason, int]] = {}
    for i in topo.instances:
        flows[i], reasons[i] = _instance_counts(testbed.nf, testbed.pin_dir(instance_host(i)))
    with SinkCounters.pinned(testbed.pin_dir("sink")) as sink:
        sink_flows = {k: p for k, (p, _) in sink.flows().items()}
        sink_reasons = sink.reason_counts()
    programs: dict[str, dict[str, int]] = {}
    for link in topo.links:
        for end in (link.a, link.b):
            with entered(topo.namespace(end.host)):
                ifindex = socket.if_nametoindex(end.ifname)
                programs.setdefault(end.host, {})[end.ifname] = libbpf.xdp_prog_id(ifindex)
    return Snapshot(buckets, steer_reasons, flows, reasons, sink_flows, sink_reasons, programs)


def _instance_counts(nf: str, pin_dir: Path) -> tuple[dict[FlowKey, int], dict[Reason, int]]:
    """Packets per canonical flow as the NF's entries count them, and its reasons."""
    if nf == "nat":
        with NatTables.pinned(pin_dir) as nat:
            return ({unpack_canonical(k): e.packets for k, e in nat.entries().items()},
                    nat.reason_counts())
    with FlowTable.pinned(pin_dir) as table:
        return {k: v.packets for k, v in table.entries().items()}, table.reason_counts()


def describe(snap: Snapshot) -> list[str]:
    """Human-readable lines for `s6nf testbed status`."""
    def nonzero(counts: dict[Reason, int]) -> str:
        shown = [f"{r.name.lower()}={n}" for r, n in sorted(counts.items()) if n]
        return ", ".join(shown) or "no packets"

    lines = [f"sw     steered {snap.steered} packets over {len(snap.steered_by_bucket)} buckets"
             f" ({nonzero(snap.steer_reasons)})"]
    for i, flows in sorted(snap.instance_flows.items()):
        lines.append(f"nf{i:<4} {len(flows)} flows, {sum(flows.values())} packets "
                     f"({nonzero(snap.instance_reasons[i])})")
    lines.append(f"sink   received {snap.received} packets of {len(snap.sink_flows)} flows "
                 f"({nonzero(snap.sink_reasons)}); total seen {verdict_total(snap.sink_reasons)}")
    for host, ifaces in snap.programs.items():
        shown = ", ".join(f"{ifname}: xdp id {pid}" if pid else f"{ifname}: no program"
                          for ifname, pid in ifaces.items())
        lines.append(f"{host:<6} {shown}")
    return lines
