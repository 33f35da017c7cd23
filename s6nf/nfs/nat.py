"""Source NAT on the hybrid path: ``ebpf/nat.c`` rewrites established flows in the kernel;
this module is the slow path (new flows, replies without a local entry, migrated entries)
and the expiry of idle and closed flows.

A flow has two SingleWriter objects in the ``nat_flows`` map: the forward entry, keyed by the
inside flow (inside → server) and the reverse entry, keyed by the translated flow (server →
public address). Each is homed where its packets' canonical key is steered and moves to the
instance that uses it. Public ports come from ``portpool``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from s6nf.agent.dso import DsoError, MwMap, Replication, Schema, SwMap
from s6nf.agent.dso.agent import DsoAgent
from s6nf.agent.dso.ebpf_storage import EbpfStorage
from s6nf.agent.dso.errors import StorageFull
from s6nf.agent.punt import Punted
from s6nf.agent.structs import NatEntry, NatEntryRecord, NfAction
from s6nf.keys import FlowKey
from s6nf.nfs.frames import (
    TCP_FIN,
    TCP_RST,
    BadFrame,
    Headers,
    Rewriter,
    be16,
    be32,
    host16,
    host32,
    parse,
)
from s6nf.nfs.portpool import PortAllocator, PortRange, PortShard
from s6nf.nfs.slowpath import Output

log = logging.getLogger(__name__)

NAT_FLOWS_ID = 100
PORT_POOL_ID = 101
FORWARD, REPLY = 0, 1
_CLOCK_MONOTONIC_COARSE = 6
"""Linux's clock id; the kernel's bpf_ktime_get_coarse_ns reads the same clock."""


def coarse_ns() -> int:
    return time.clock_gettime_ns(_CLOCK_MONOTONIC_COARSE)


@dataclass(frozen=True)
class NatConfig:
    public: str
    """The public IPv4 address inside flows are translated to."""
    ports: PortRange = field(default_factory=PortRange)
    idle_timeout_s: float = 60.0
    """A flow with no packet for this long is expired and its port returned."""
    close_linger_s: float = 2.0
    """A flow that has seen FIN or RST is expired after this long without packets."""

    def __post_init__(self) -> None:
        try:
            ipaddress.IPv4Address(self.public)
        except ValueError as exc:
            raise ValueError(f"NAT public address: {exc}") from None
        if self.idle_timeout_s <= 0 or self.close_linger_s < 0:
            raise ValueError("NAT timeouts must be positive")

    @property
    def public_int(self) -> int:
        return int(ipaddress.IPv4Address(self.public))


def nat_schema(storage: Callable[[], EbpfStorage[NatEntryRecord]]) -> Schema:
    """The NAT's maps; ``storage`` builds an instance's view of its ``nat_flows`` map.

    An entry the agent installs (or fetches, or receives by a push) is at its backup before
    the flow's packets leave (``SYNC_FIRST``), and a lease is at the shard's backup before
    the ports are used (``SYNC``), so a failover never gives a flow another public port nor a
    port to two flows. Later changes to an entry are its counters and closing flags: they
    follow at the agent's replication interval, like the kernel's own updates to them."""
    flows: SwMap[NatEntryRecord] = SwMap(NAT_FLOWS_ID, "nat_flows", NatEntryRecord,
                                         storage=storage,
                                         replication=Replication.SYNC_FIRST)
    return Schema([flows, MwMap(PORT_POOL_ID, "nat_ports", PortShard,
                                replication=Replication.SYNC)])


@dataclass
class NatCounters:
    new_flows: int = 0
    translated: int = 0
    unsolicited: int = 0
    no_port: int = 0
    expired: int = 0
    bad_frames: int = 0
    wrong_way: int = 0
    table_full: int = 0
    """Packets refused because the flow map had no room for an entry (the flow is refused
    until an entry expires)."""


EXPIRY_SLICE = 2048
"""Flow entries an expiry pass reads and decodes before it lets the event loop run."""

_LAST_SEEN = struct.Struct("=Q")
_LAST_SEEN_AT: int = NatEntry.last_seen_ns.offset
_REVERSE_AT: int = NatEntry.reverse.offset
_CLOSING_AT: int = NatEntry.closing.offset

Egress = Callable[[int], tuple[bytes, bytes]]
"""direction → (source MAC, destination MAC) of frames leaving that way."""


class Nat:
    def __init__(self, agent: DsoAgent, config: NatConfig, egress: Egress) -> None:
        self.agent = agent
        self.config = config
        self.egress = egress
        flows = agent.schema.get(NAT_FLOWS_ID)
        pool = agent.schema.get(PORT_POOL_ID)
        assert isinstance(flows, SwMap) and isinstance(pool, MwMap)
        self.flows = agent.sw(flows)
        self.ports = PortAllocator(agent, pool, config.ports)
        self.public = config.public_int
        self.counters = NatCounters()

    async def handle(self, pkt: Punted) -> Output:
        """The slow path of one punted packet: the frame to send on, or None (dropped)."""
        return (await self.handle_batch([pkt], list))[0]

    async def handle_batch(self, pkts: list[Punted], more: Callable[[], list[Punted]]
                           ) -> list[Output]:
        """A flow's queued packets (one canonical key), in one access to its entry: the
        entry is installed once, counted for every packet, and written back once."""
        key = pkts[0].key
        outputs: list[Output] = []
        inbound = pkts[0].direction != FORWARD
        try:
            access = self.flows.access(key, create=not inbound)
            view = await access.__aenter__()
        except (KeyError, StorageFull) as exc:
            batch = more()
            refused = len(pkts) + len(batch)
            if isinstance(exc, StorageFull):
                self.counters.table_full += refused
            else:
                self.counters.unsolicited += refused
            return [None] * refused
        fresh = False
        try:
            entry = NatEntryRecord.from_bytes(view.to_bytes())
            fresh = entry.orig_saddr == 0 and entry.action == NfAction.PASS
            rewriters: dict[int, Rewriter] = {}
            batch = pkts
            while batch:
                for pkt in batch:
                    try:
                        h = parse(pkt.frame)
                    except BadFrame as exc:
                        self.counters.bad_frames += 1
                        log.warning("NAT: unreadable punted frame: %s", exc)
                        outputs.append(None)
                        continue
                    if fresh:
                        entry = await self._install(key, h)
                        fresh = False
                    outputs.append(self._forward(pkt, h, entry, rewriters))
                batch = more()
            if not fresh:
                self._store(key, entry)
        finally:
            await access.__aexit__(None, None, None)
            if fresh:
                await self._forget_blank(key)
        return outputs

    async def _forget_blank(self, key: bytes) -> None:
        """Remove an entry created for a flow whose install never finished (its packets were
        unreadable, or the port lease failed): left blank, it would hold the key for ever."""
        try:
            await self.flows.remove(key)
        except DsoError as exc:
            log.warning("NAT: could not remove the blank entry of %s: %s", key.hex(), exc)

    async def _install(self, key: bytes, h: Headers) -> NatEntryRecord:
        """A new inside flow: a public port, and its reverse entry (or a drop entry)."""
        port = await self.ports.allocate()
        if port is None:
            self.counters.no_port += 1
            return NatEntryRecord(action=NfAction.DROP, last_seen_ns=coarse_ns())
        reverse = FlowKey(h.dst, self.public, h.dport, port, h.proto)
        try:
            async with self.flows.access(reverse.canonical(), create=True):
                self._store(reverse.canonical(), self._reverse_of(h, port))
        except StorageFull:
            self.counters.table_full += 1
            self.ports.free(port)
            return NatEntryRecord(action=NfAction.DROP, last_seen_ns=coarse_ns())
        self.counters.new_flows += 1
        return self._new_flow(h, port)

    def _forward(self, pkt: Punted, h: Headers, entry: NatEntryRecord,
                 rewriters: dict[int, Rewriter] | None = None) -> Output:
        """Send ``pkt`` the way its entry says, counting it in the entry as the kernel does;
        ``rewriters`` keeps the flow's translation (per direction) across a batch."""
        if entry.action != NfAction.PASS:
            return None
        if be32(h.src) != entry.orig_saddr or be16(h.sport) != entry.orig_sport:
            self.counters.wrong_way += 1
            return None
        entry.packets += 1
        entry.bytes += len(pkt.frame)
        entry.last_seen_ns = coarse_ns()
        entry.closing |= h.tcp_flags & (TCP_FIN | TCP_RST)
        rewriters = {} if rewriters is None else rewriters
        rewriter = rewriters.get(pkt.direction)
        if rewriter is None:
            smac, dmac = self.egress(pkt.direction)
            rewriter = rewriters[pkt.direction] = Rewriter(
                h, host32(entry.new_saddr), host32(entry.new_daddr), host16(entry.new_sport),
                host16(entry.new_dport), smac, dmac)
        frame = rewriter.apply(pkt.frame, h)
        self.counters.translated += 1
        return pkt.direction, frame

    def _new_flow(self, h: Headers, port: int) -> NatEntryRecord:
        now = coarse_ns()
        return NatEntryRecord(orig_saddr=be32(h.src), orig_sport=be16(h.sport),
                              new_saddr=be32(self.public), new_sport=be16(port),
                              new_daddr=be32(h.dst), new_dport=be16(h.dport),
                              last_seen_ns=now)

    def _reverse_of(self, h: Headers, port: int) -> NatEntryRecord:
        now = coarse_ns()
        return NatEntryRecord(orig_saddr=be32(h.dst), orig_sport=be16(h.dport),
                              new_saddr=be32(h.dst), new_sport=be16(h.dport),
                              new_daddr=be32(h.src), new_dport=be16(h.sport), reverse=1,
                              last_seen_ns=now)

    def _store(self, key: bytes, entry: NatEntryRecord) -> None:
        storage = self.flows.storage
        storage.put(key, entry.to_bytes())

    async def expire(self, now_ns: int | None = None) -> int:
        """Remove idle and closed flows held here (both entries) and return their ports."""
        now = now_ns if now_ns is not None else coarse_ns()
        idle_ns = int(self.config.idle_timeout_s * 1e9)
        linger_ns = int(self.config.close_linger_s * 1e9)
        done = 0
        freed: list[int] = []
        for key, entry in await self._held_entries(now, idle_ns, linger_ns):
            if entry.reverse or (entry.orig_saddr == 0 and entry.action == NfAction.PASS):
                continue
            quiet = now - entry.last_seen_ns
            if quiet < idle_ns and not (entry.closing and quiet >= linger_ns):
                continue
            await self.flows.remove(key)
            if entry.action == NfAction.PASS:
                port = host16(entry.new_sport)
                reverse = FlowKey(host32(entry.new_daddr), self.public,
                                  host16(entry.new_dport), port, key[12])
                await self.flows.remove(reverse.canonical())
                freed.append(port)
            self.counters.expired += 1
            done += 1
        if freed:
            # The entries' deletion reaches their backups before their ports can be reused.
            await self.agent.flush_replicas()
            for port in freed:
                self.ports.free(port)
        return done

    async def _held_entries(self, now: int, idle_ns: int,
                            linger_ns: int) -> list[tuple[bytes, NatEntryRecord]]:
        """The forward entries held here that may have expired at ``now`` (the caller checks
        them again), read ``EXPIRY_SLICE`` entries at a time with the event loop let run in
        between: read and decoded whole every second, a map of 50,000 entries kept the agent
        from handling packets for up to 0.9 s at a time, and took a fifth of a saturated
        agent's time (measured with a sampling profiler at 100 kpps). Only the entries that
        pass a look at three fields are decoded."""
        storage = self.flows.storage
        if not isinstance(storage, EbpfStorage):
            items: list[tuple[bytes, NatEntryRecord]] = storage.items()
            return items
        n, decode, seen_at = storage.key_len, NatEntryRecord.from_bytes, _LAST_SEEN.unpack_from
        seen_off, rev_off, closing_off = _LAST_SEEN_AT, _REVERSE_AT, _CLOSING_AT
        idle_before, linger_before = now - idle_ns, now - linger_ns
        held: list[tuple[bytes, NatEntryRecord]] = []
        cursor: int | None = None
        while True:
            entries, cursor = storage.raw.scan(cursor, EXPIRY_SLICE)
            for k, v in entries:
                if v[rev_off]:
                    continue
                seen = seen_at(v, seen_off)[0]
                if seen <= idle_before or (v[closing_off] and seen <= linger_before):
                    held.append((k[:n], decode(v)))
            if cursor is None:
                return held
            await asyncio.sleep(0)

    async def maintain(self, interval_s: float = 1.0) -> None:
        """Expire flows every ``interval_s`` until cancelled (run by the agent's runtime)."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.expire()
            except DsoError as exc:
                log.warning("NAT expiry pass failed, retrying next pass: %s", exc)
