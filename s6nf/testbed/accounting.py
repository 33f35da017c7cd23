"""Reading a running testbed's counters into one snapshot: where every packet went.

With the sink reflecting, replies are counted on their way back too: reflected at the sink
(its ``FORWARD``), forwarded by the steering host's uplink, and received at gen by the sink
program there, which keeps their per-flow counts and sequence state as the sink does.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

from pyroute2 import IPRoute

from s6nf.agent import libbpf
from s6nf.agent.maps import FlowTable, SinkCounters, SteeringMaps, UplinkMaps
from s6nf.agent.verdicts import Reason, verdict_total
from s6nf.keys import FlowKey, unpack_canonical
from s6nf.netns import entered
from s6nf.nfs.ids_maps import IdsTables
from s6nf.nfs.nat_maps import NatTables
from s6nf.testbed.testbed import Testbed
from s6nf.testbed.topology import Topology, instance_host


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
    reflecting: bool = False
    """Whether the sink sends every packet back to gen."""
    uplink_reasons: dict[Reason, int] = field(default_factory=dict)
    """The steering host's reply program (empty while the reply path is not wired)."""
    returned_flows: dict[FlowKey, int] = field(default_factory=dict)
    """Canonical flow → replies received back at gen."""
    returned_reasons: dict[Reason, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    """"host:interface" → packets the interface dropped (rx and tx, the kernel's counters)."""

    @property
    def steered(self) -> int:
        return sum(p for p, _ in self.steered_by_bucket.values())

    @property
    def at_instances(self) -> int:
        return sum(sum(f.values()) for f in self.instance_flows.values())

    @property
    def received(self) -> int:
        """Packets the sink took in: consumed, or reflected back."""
        return self.sink_reasons.get(Reason.CONSUMED, 0) + self.reflected

    @property
    def reflected(self) -> int:
        return self.sink_reasons.get(Reason.FORWARD, 0)

    @property
    def uplinked(self) -> int:
        """Replies the steering host forwarded to gen."""
        return self.uplink_reasons.get(Reason.FORWARD, 0)

    @property
    def returned(self) -> int:
        """Replies received back at gen."""
        return self.returned_reasons.get(Reason.CONSUMED, 0)


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
        reflecting = sink.reflecting()
    snap = Snapshot(buckets, steer_reasons, flows, reasons, sink_flows, sink_reasons,
                    reflecting=reflecting)
    if testbed.uplink_pin_dir.is_dir():
        with UplinkMaps.pinned(testbed.uplink_pin_dir) as uplink:
            snap.uplink_reasons = uplink.reason_counts()
    if testbed.returns_pin_dir.is_dir():
        with SinkCounters.pinned(testbed.returns_pin_dir) as returns:
            snap.returned_flows = {k: p for k, (p, _) in returns.flows().items()}
            snap.returned_reasons = returns.reason_counts()
    for link in topo.links:
        for end in (link.a, link.b):
            with entered(topo.namespace(end.host)):
                ifindex = socket.if_nametoindex(end.ifname)
                snap.programs.setdefault(end.host, {})[end.ifname] = libbpf.xdp_prog_id(ifindex)
    snap.dropped = interface_drops(topo)
    return snap


def sink_received(testbed: Testbed) -> int:
    """What ``snapshot(testbed).received`` says, reading the sink's counters alone."""
    with SinkCounters.pinned(testbed.pin_dir("sink")) as sink:
        reasons = sink.reason_counts()
    return reasons.get(Reason.CONSUMED, 0) + reasons.get(Reason.FORWARD, 0)


def gen_returned(testbed: Testbed) -> int:
    """What ``snapshot(testbed).returned`` says, reading gen's sink alone."""
    with SinkCounters.pinned(testbed.returns_pin_dir) as returns:
        return returns.reason_counts().get(Reason.CONSUMED, 0)


def interface_drops(topo: Topology) -> dict[str, int]:
    """"host:interface" → rx_dropped + tx_dropped of every data-path interface."""
    out: dict[str, int] = {}
    for host in topo.hosts:
        ifnames = {end.ifname for link in topo.links for end in (link.a, link.b)
                   if end.host == host}
        # IPRoute(netns=...) would fork a helper, which a process running gRPC must not do.
        with entered(topo.namespace(host)), IPRoute() as ipr:
            for link in ipr.get_links():
                name = link.get_attr("IFLA_IFNAME")
                stats = link.get_attr("IFLA_STATS64")
                if name in ifnames and stats is not None:
                    out[f"{host}:{name}"] = int(stats["rx_dropped"]) + int(stats["tx_dropped"])
    return out


def _instance_counts(nf: str, pin_dir: Path) -> tuple[dict[FlowKey, int], dict[Reason, int]]:
    """Packets per canonical flow as the NF's entries count them, and its reasons."""
    if nf == "nat":
        with NatTables.pinned(pin_dir) as nat:
            return ({unpack_canonical(k): e.packets for k, e in nat.entries().items()},
                    nat.reason_counts())
    if nf == "ids":
        with IdsTables.pinned(pin_dir) as ids:
            return ({unpack_canonical(k): e.packets for k, e in ids.entries().items()},
                    ids.reason_counts())
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
                 f"({nonzero(snap.sink_reasons)}); total seen {verdict_total(snap.sink_reasons)}"
                 f"; {'reflecting' if snap.reflecting else 'consuming'}")
    if snap.uplink_reasons or snap.returned_reasons:
        lines.append(f"sw     forwarded {snap.uplinked} replies to gen "
                     f"({nonzero(snap.uplink_reasons)})")
        lines.append(f"gen    received {snap.returned} replies of {len(snap.returned_flows)} "
                     f"flows ({nonzero(snap.returned_reasons)})")
    drops = [f"{name}={n}" for name, n in sorted(snap.dropped.items()) if n]
    if drops:
        lines.append(f"drops  {', '.join(drops)} (kernel counters of the data interfaces)")
    for host, ifaces in snap.programs.items():
        shown = ", ".join(f"{ifname}: xdp id {pid}" if pid else f"{ifname}: no program"
                          for ifname, pid in ifaces.items())
        lines.append(f"{host:<6} {shown}")
    return lines
