"""The IDS (Snort-like) on the hybrid path: ``ebpf/ids.c`` tracks TCP state and counts flows
in the kernel; this module is the slow path for a flow's first packet (port-scan detection,
whether the rules need to see the flow) and for every payload-carrying packet of an inspected
flow (the rules). The IDS only watches: every packet is sent on.

State, as the DSO sees it:

- ``ids.flows`` (SingleWriter, eBPF-backed): the kernel's ``ids_flow`` entries; the agent
  creates them and decides ``inspect``.
- ``ids.scans`` (MultiWriter, keyed by source ``IpKey``): ``ScanWindow`` per source.
- ``ids.settings`` (MultiWriter, one object): whitelist and scan parameters, read stale.

Alerts are JSON lines on the ``s6nf.ids.alerts`` logger (and kept in ``Ids.alerts``).
Whitelisted sources are neither inspected nor counted as scanners.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from s6nf.agent.dso import BytesKey, IpKey, MwMap, Schema, SwMap
from s6nf.agent.dso.agent import DsoAgent
from s6nf.agent.dso.ebpf_storage import EbpfStorage
from s6nf.agent.dso.errors import DsoError, StorageFull
from s6nf.agent.punt import Punted
from s6nf.agent.structs import IdsFlowRecord
from s6nf.nfs.frames import TCP, BadFrame, Headers, parse
from s6nf.nfs.nat import coarse_ns
from s6nf.nfs.rules import RuleSet
from s6nf.nfs.scan import IdsSettings, ScanWindow
from s6nf.nfs.tcpstate import next_state

log = logging.getLogger(__name__)
alert_log = logging.getLogger("s6nf.ids.alerts")

IDS_FLOWS_ID = 120
SCANS_ID = 121
SETTINGS_ID = 122
SETTINGS_KEY = BytesKey(b"ids.settings")
PROTO_NAMES = {6: "tcp", 17: "udp"}
KEPT_ALERTS = 10_000


@dataclass(frozen=True)
class IdsConfig:
    rules: RuleSet
    whitelist: tuple[str, ...] = ()
    """Source addresses never inspected nor counted as scanners."""
    scan_threshold: int = 20
    """Distinct (destination, port) pairs in the window that make a source a scanner."""
    scan_window_s: float = 10.0
    inspect_all: bool = False
    """Inspect every flow, not only those whose ports appear in a rule."""

    def __post_init__(self) -> None:
        if self.scan_threshold < 1 or self.scan_window_s <= 0:
            raise ValueError(f"IDS scan threshold {self.scan_threshold} must be >= 1 and window "
                             f"{self.scan_window_s} s positive")
        for addr in self.whitelist:
            try:
                ipaddress.IPv4Address(addr)
            except ValueError:
                raise ValueError(f"IDS whitelist: {addr!r} is not an IPv4 address") from None


def ids_schema(storage: Callable[[], EbpfStorage[IdsFlowRecord]]) -> Schema:
    flows: SwMap[IdsFlowRecord] = SwMap(IDS_FLOWS_ID, "ids.flows", IdsFlowRecord,
                                        storage=storage)
    return Schema([flows, MwMap(SCANS_ID, "ids.scans", ScanWindow),
                   MwMap(SETTINGS_ID, "ids.settings", IdsSettings)])


@dataclass
class IdsCounters:
    new_flows: int = 0
    inspected_flows: int = 0
    inspected_packets: int = 0
    alerts: int = 0
    scans: int = 0
    whitelisted: int = 0
    bad_frames: int = 0
    table_full: int = 0
    """Packets of flows refused an entry because the flow map was full: forwarded, not
    tracked or inspected (docs/hostile-input.md)."""
    unchecked: int = 0
    """Packets dropped because the agent could not check them: the flow's entry or the
    shared objects a new flow's checks need (settings, scan window) could not be reached.
    A new flow's blank entry is removed again, so its next packet is checked anew rather
    than forwarded uninspected (fail closed)."""


Egress = Callable[[int], tuple[bytes, bytes]]


def _addr(value: int) -> str:
    return str(ipaddress.IPv4Address(value))


def payload_of(frame: bytes, h: Headers) -> bytes:
    """The L4 payload by the IPv4 total length (an Ethernet pad is not payload)."""
    total = struct.unpack_from("!H", frame, h.l3 + 2)[0]
    return frame[h.payload:h.l3 + total]


class Ids:
    def __init__(self, agent: DsoAgent, config: IdsConfig, egress: Egress,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.egress = egress
        self.clock = clock
        flows, scans, settings = (agent.schema.get(i) for i in
                                  (IDS_FLOWS_ID, SCANS_ID, SETTINGS_ID))
        assert isinstance(flows, SwMap) and isinstance(scans, MwMap)
        assert isinstance(settings, MwMap)
        self.flows = agent.sw(flows)
        self.scans = agent.mw(scans)
        self.settings = agent.mw(settings)
        self.counters = IdsCounters()
        self.alerts: deque[dict[str, Any]] = deque(maxlen=KEPT_ALERTS)
        self._configured = False

    def queries(self) -> dict[str, Callable[[], Awaitable[dict[str, Any]]]]:
        """What the agent's control service answers for this NF."""
        return {"Alerts": self.report}

    async def report(self) -> dict[str, Any]:
        return {"alerts": list(self.alerts), "counters": vars(self.counters).copy()}

    async def handle(self, pkt: Punted) -> tuple[int, bytes] | None:
        try:
            h = parse(pkt.frame)
        except BadFrame as exc:
            self.counters.bad_frames += 1
            log.warning("IDS: unreadable punted frame: %s", exc)
            return None
        payload = payload_of(pkt.frame, h)
        fresh = False
        try:
            async with self.flows.access(pkt.key, create=True) as view:
                entry = IdsFlowRecord.from_bytes(view.to_bytes())
                fresh = entry.packets == 0
                if fresh:
                    await self._new_flow(h, entry)
                entry.packets += 1
                entry.bytes += len(pkt.frame)
                entry.last_seen_ns = coarse_ns()
                if h.proto == TCP:
                    entry.tcp_state = next_state(entry.tcp_state, h.tcp_flags)
                if entry.inspect and payload:
                    self._inspect(h, payload)
                self.flows.storage.put(pkt.key, entry.to_bytes())
                fresh = False
        except StorageFull:
            self.counters.table_full += 1
        except DsoError as exc:
            self.counters.unchecked += 1
            log.warning("IDS: packet of flow %s dropped unchecked: %s", pkt.key.hex(), exc)
            if fresh:
                await self._forget_blank(pkt.key)
            return None
        smac, dmac = self.egress(pkt.direction)
        return pkt.direction, dmac + smac + pkt.frame[12:]

    async def _forget_blank(self, key: bytes) -> None:
        """Remove the entry of a new flow whose checks failed: left blank, the kernel would
        turn it ready and forward the flow's packets uninspected."""
        try:
            await self.flows.remove(key)
        except DsoError as exc:
            log.warning("IDS: could not remove the blank entry of %s: %s", key.hex(), exc)

    async def _settings(self) -> tuple[list[int], int, float]:
        """The shared settings, configured by the first new flow an instance sees, and again
        whenever they read otherwise than configured: the settings map is replicated in
        batches, so a failover of its home can bring back an older version or the defaults
        (docs/failover.md)."""
        c = self.config
        wanted = (sorted({int(ipaddress.IPv4Address(a)) for a in c.whitelist}),
                  c.scan_threshold, c.scan_window_s)
        if self._configured:
            whitelist, threshold, window_s = await self.settings.call(SETTINGS_KEY,
                                                                      IdsSettings.read)
            if (sorted(whitelist), threshold, window_s) == wanted:
                return whitelist, threshold, window_s
        await self.settings.call(SETTINGS_KEY, IdsSettings.configure, *wanted)
        self._configured = True
        return await self.settings.call(SETTINGS_KEY, IdsSettings.read)

    async def _new_flow(self, h: Headers, entry: IdsFlowRecord) -> None:
        self.counters.new_flows += 1
        whitelist, threshold, window_s = await self._settings()
        if h.src in whitelist:
            self.counters.whitelisted += 1
            return
        entry.inspect = int(self.config.inspect_all
                            or self.config.rules.inspects(h.proto, h.sport, h.dport))
        self.counters.inspected_flows += entry.inspect
        now = self.clock()
        source = IpKey(h.src)
        self.scans.cast(source, ScanWindow.add, h.dst, h.dport, now, window_s)
        if await self.scans.call(source, ScanWindow.distinct) < threshold:
            return
        distinct = await self.scans.call(source, ScanWindow.flag, now, window_s, threshold)
        if distinct:
            self.counters.scans += 1
            self._alert({"event": "portscan", "src": _addr(h.src), "distinct": distinct,
                         "threshold": threshold, "window_s": window_s})

    def _inspect(self, h: Headers, payload: bytes) -> None:
        self.counters.inspected_packets += 1
        for rule in self.config.rules.match(h.proto, h.src, h.sport, h.dst, h.dport, payload):
            self.counters.alerts += 1
            self._alert({"event": "alert", "sid": rule.sid, "msg": rule.msg,
                         "proto": PROTO_NAMES[h.proto], "src": _addr(h.src), "sport": h.sport,
                         "dst": _addr(h.dst), "dport": h.dport})

    def _alert(self, record: dict[str, Any]) -> None:
        self.alerts.append(record)
        alert_log.warning("%s", json.dumps(record, sort_keys=True))
