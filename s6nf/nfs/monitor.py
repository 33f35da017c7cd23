"""The asset monitor (PRADS-like) on the hybrid path: ``ebpf/monitor.c`` counts established
flows in the kernel; this module is the slow path for a flow's first packet and its first
SYN-ACK, the two moments that say something about the hosts.

State, as the DSO sees it:

- ``monitor.flows`` (SingleWriter, eBPF-backed): the kernel's own per-flow ``flow_stats``
  entries. The agent creates a flow's entry and counts the packets it handles; the kernel
  flips ``ready`` once they have all left, then counts the rest.
- ``monitor.assets`` (MultiWriter, keyed by ``IpKey``): one ``Asset`` per host, homed by
  its address; first/last seen, services, an OS hint from the TTL and window of its SYN or
  SYN-ACK. Changed only by ``@untether`` calls, so a new flow never waits on another instance.
- ``monitor.totals`` (MultiWriter, one object): new flows by protocol and handshakes.

A host's first/last seen are the times of its slow-path events (new flows, handshakes); the
per-flow entries keep the time of every packet.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from s6nf.agent.dso import BytesKey, IpKey, MwMap, Schema, SwMap
from s6nf.agent.dso.agent import DsoAgent
from s6nf.agent.dso.ebpf_storage import EbpfStorage
from s6nf.agent.dso.errors import StorageFull
from s6nf.agent.punt import Punted
from s6nf.agent.structs import FlowStatsRecord
from s6nf.nfs.assets import Asset, Totals
from s6nf.nfs.frames import TCP, BadFrame, Headers, parse
from s6nf.nfs.nat import coarse_ns

log = logging.getLogger(__name__)

MONITOR_FLOWS_ID = 110
ASSETS_ID = 111
TOTALS_ID = 112
TOTALS_KEY = BytesKey(b"monitor.totals")
TCP_SYN, TCP_ACK = 0x02, 0x10
PROTO_NAMES = {6: "tcp", 17: "udp"}


def monitor_schema(storage: Callable[[], EbpfStorage[FlowStatsRecord]]) -> Schema:
    """The monitor's maps; ``storage`` builds an instance's view of its ``flows`` map."""
    flows: SwMap[FlowStatsRecord] = SwMap(MONITOR_FLOWS_ID, "monitor.flows", FlowStatsRecord,
                                          storage=storage)
    return Schema([flows, MwMap(ASSETS_ID, "monitor.assets", Asset),
                   MwMap(TOTALS_ID, "monitor.totals", Totals)])


@dataclass
class MonitorCounters:
    packets: int = 0
    new_flows: int = 0
    handshakes: int = 0
    bad_frames: int = 0
    table_full: int = 0
    """Packets of flows refused an entry because the flow map was full: forwarded, not
    watched (docs/hostile-input.md)."""


Egress = Callable[[int], tuple[bytes, bytes]]
"""direction → (source MAC, destination MAC) of frames leaving that way."""
Update = tuple[int, Callable[..., None], tuple[Any, ...]]
"""(host address, Asset method, its arguments): one untether call to make."""


class AssetMonitor:
    def __init__(self, agent: DsoAgent, egress: Egress) -> None:
        self.agent = agent
        self.egress = egress
        flows, assets, totals = (agent.schema.get(i) for i in
                                 (MONITOR_FLOWS_ID, ASSETS_ID, TOTALS_ID))
        assert isinstance(flows, SwMap) and isinstance(assets, MwMap)
        assert isinstance(totals, MwMap)
        self.flows = agent.sw(flows)
        self.hosts = agent.mw(assets)
        self.totals = agent.mw(totals)
        self.counters = MonitorCounters()

    async def handle(self, pkt: Punted) -> tuple[int, bytes] | None:
        """Count one punted packet in its flow's entry, tell the hosts' assets what it
        showed, and send it on unchanged (but for the MACs)."""
        try:
            h = parse(pkt.frame)
        except BadFrame as exc:
            self.counters.bad_frames += 1
            log.warning("monitor: unreadable punted frame: %s", exc)
            return None
        now = coarse_ns()
        try:
            async with self.flows.access(pkt.key, create=True) as view:
                entry = FlowStatsRecord.from_bytes(view.to_bytes())
                updates = self._count(entry, h, len(pkt.frame), now)
                self.flows.storage.put(pkt.key, entry.to_bytes())
        except StorageFull:
            self.counters.table_full += 1
            smac, dmac = self.egress(pkt.direction)
            return pkt.direction, dmac + smac + pkt.frame[12:]
        for addr, method, args in updates:
            self.hosts.cast(IpKey(addr), method, *args)
        self.counters.packets += 1
        smac, dmac = self.egress(pkt.direction)
        return pkt.direction, dmac + smac + pkt.frame[12:]

    def _count(self, entry: FlowStatsRecord, h: Headers, length: int, now: int
               ) -> list[Update]:
        """Count the packet in ``entry`` as the kernel would, and list the asset updates."""
        updates: list[Update] = []
        if entry.packets == 0:
            entry.first_seen_ns = now
            self.counters.new_flows += 1
            self.totals.cast(TOTALS_KEY, Totals.add, f"new_{PROTO_NAMES[h.proto]}", 1)
            updates += [(h.src, Asset.seen, (now,)), (h.dst, Asset.seen, (now,))]
            if h.proto != TCP:
                updates.append((h.dst, Asset.service, (f"udp/{h.dport}", now)))
        entry.packets += 1
        entry.bytes += length
        entry.last_seen_ns = now
        entry.tcp_flags |= h.tcp_flags
        syn = h.proto == TCP and h.tcp_flags & TCP_SYN
        if syn and not h.tcp_flags & TCP_ACK and not entry.client_ttl:
            entry.client_ttl, entry.client_window = h.ttl, h.window
            updates.append((h.src, Asset.fingerprint, (h.ttl, h.window, now)))
        if syn and h.tcp_flags & TCP_ACK and not entry.synack_seen:
            entry.synack_seen = 1
            entry.server_ttl, entry.server_window = h.ttl, h.window
            self.counters.handshakes += 1
            self.totals.cast(TOTALS_KEY, Totals.add, "handshakes", 1)
            updates += [(h.src, Asset.fingerprint, (h.ttl, h.window, now)),
                        (h.src, Asset.service, (f"tcp/{h.sport}", now))]
        return updates

    def assets(self) -> dict[str, dict[str, Any]]:
        """The assets homed at this instance, by address (every instance's together are all
        the assets: each host has exactly one home)."""
        return {str(IpKey(int.from_bytes(key, "big"))): obj.describe()
                for key, obj in self.hosts.held()}

    def queries(self) -> dict[str, Callable[[], Awaitable[dict[str, Any]]]]:
        """What the agent's control service answers for this NF."""
        return {"Assets": self.report}

    async def report(self) -> dict[str, Any]:
        """What the control service's ``Assets`` method answers."""
        return {"instance": self.agent.me, "assets": self.assets(),
                "totals": await self.totals_view()}

    async def totals_view(self) -> dict[str, int]:
        """The global counts, from a cache at most ``Totals.read``'s bound old."""
        return await self.totals.call(TOTALS_KEY, Totals.read)
