"""Each map family of the s6nf programs behind one class.

A family opens its maps from a pin directory (``SteeringMaps.pinned(dir)``, for agents and
tools) or from a program just loaded (``SteeringMaps.of(program)``, for tests and benches);
callers say ``steering.apply_key_space(...)`` instead of poking at raw maps.
"""

from __future__ import annotations

import ctypes as ct
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Self

from s6nf.agent import rcu
from s6nf.agent.bpfmap import BpfMap
from s6nf.agent.loader import Program
from s6nf.agent.structs import (
    Counter,
    FlowKeyC,
    FlowStats,
    FwdTarget,
    MeasConfig,
    NfConfig,
    NfDirection,
    PortEntry,
    SinkFlow,
    SlotCount,
    SlotHist,
    SteerConfig,
)
from s6nf.agent.verdicts import Reason
from s6nf.keys import FlowKey, bucket_of_bytes
from s6nf.measure.histogram import BUCKETS as HIST_BUCKETS
from s6nf.measure.histogram import Histogram

U32 = ct.c_uint32
DEFAULT_SLOT_NS = 100_000_000
"""The sink's throughput slot length while meas_config.slot_ns is 0 (consts.h)."""


Opener = Callable[[str, type[Any], type[Any]], BpfMap[Any, Any]]


class _Family:
    """Opens a program's maps by name, each once, and closes them together."""

    def __init__(self, opener: Opener) -> None:
        self._opener = opener
        self._open: dict[str, BpfMap[Any, Any]] = {}

    @classmethod
    def pinned(cls, pin_dir: Path) -> Self:
        if not pin_dir.is_dir():
            raise FileNotFoundError(f"no pinned maps at {pin_dir}: is the program loaded?")
        return cls(lambda name, k, v: BpfMap.pinned(str(pin_dir / name), k, v))

    @classmethod
    def of(cls, program: Program) -> Self:
        return cls(program.map)

    def _map(self, name: str, key: type[Any], value: type[Any]) -> BpfMap[Any, Any]:
        if name not in self._open:
            self._open[name] = self._opener(name, key, value)
        return self._open[name]

    def close(self) -> None:
        for m in self._open.values():
            m.close()
        self._open.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reason_counts(self) -> dict[Reason, int]:
        stats = self._map("stats", U32, ct.c_uint64)
        known = set(Reason._value2member_map_)
        return {Reason(k.value): sum(v.value for v in vals)
                for k, vals in stats.items_percpu() if k.value in known}


class ProgramStats(_Family):
    """Any s6nf program's per-reason counters (every program has ``stats``)."""


class SteeringMaps(_Family):
    """ports, key_space, flow_pin and bucket_stats of ``steer.c``."""

    def set_port(self, port: int, ifindex: int) -> None:
        self._map("ports", U32, PortEntry).update(U32(port), PortEntry(ifindex))

    def clear_port(self, port: int) -> None:
        self._map("ports", U32, PortEntry).update(U32(port), PortEntry(0))

    @property
    def buckets(self) -> int:
        """Buckets per key-space copy (the map holds two copies)."""
        return self._map("key_space", U32, FwdTarget).max_entries // 2

    @property
    def max_pins(self) -> int:
        return self._map("flow_pin", FlowKeyC, FwdTarget).max_entries

    def _config(self) -> SteerConfig:
        config = self._map("steer_config", U32, SteerConfig).lookup(U32(0))
        return config if config is not None else SteerConfig()

    def _set_config(self, config: SteerConfig) -> None:
        self._map("steer_config", U32, SteerConfig).update(U32(0), config)

    def _copy(self, index: int) -> list[FwdTarget]:
        """Copy ``index`` of the key space: slots index * buckets + bucket."""
        table = self._map("key_space", U32, FwdTarget)
        buckets = table.max_entries // 2
        entries = sorted(table.items(), key=lambda kv: kv[0].value)
        return [t for _, t in entries[index * buckets:(index + 1) * buckets]]

    def pins(self) -> dict[FlowKey, FwdTarget]:
        return {k.to_flow(): v for k, v in self._map("flow_pin", FlowKeyC, FwdTarget).items()}

    def pin(self, key: FlowKey, target: FwdTarget) -> None:
        """Steer both directions of ``key`` by ``target`` whatever its bucket."""
        self._map("flow_pin", FlowKeyC, FwdTarget).update(FlowKeyC.from_flow(key), target)
        self._count_pins()

    def unpin(self, key: FlowKey) -> bool:
        removed = self._map("flow_pin", FlowKeyC, FwdTarget).delete(FlowKeyC.from_flow(key))
        self._count_pins()
        return removed

    def _count_pins(self) -> None:
        """Keep steer_config.pins equal to flow_pin's size: steer skips the table at zero."""
        config = self._config()
        config.pins = len(list(self._map("flow_pin", FlowKeyC, FwdTarget).keys()))
        self._set_config(config)

    def key_space(self) -> list[FwdTarget]:
        """The active copy, bucket by bucket (action NONE where a bucket has no entry)."""
        return self._copy(self._config().active)

    def apply_key_space(self, updates: Mapping[int, FwdTarget | None]) -> None:
        """Set (or, for None, clear) the given buckets' entries, all at once for packets.

        The full new table is written into the inactive copy, ``active`` flips in one map
        write, and an RCU grace period passes before returning, so no packet still reads the
        old copy when the next batch overwrites it. There must be one writer at a time.
        """
        config = self._config()
        table = self.key_space()
        for bucket, target in updates.items():
            if not 0 <= bucket < len(table):
                raise ValueError(f"bucket {bucket} out of range [0, {len(table)})")
            table[bucket] = target if target is not None else FwdTarget()
        spare = 1 - config.active
        base = spare * len(table)
        self._map("key_space", U32, FwdTarget).update_batch(
            (U32(base + b), t) for b, t in enumerate(table))
        config.active = spare
        self._set_config(config)
        rcu.synchronize()

    def bucket_counters(self) -> dict[int, tuple[int, int]]:
        """bucket → (packets, bytes), summed over CPUs, buckets with traffic only."""
        out: dict[int, tuple[int, int]] = {}
        for key, per_cpu in self._map("bucket_stats", U32, Counter).items_percpu():
            packets = sum(c.packets for c in per_cpu)
            if packets:
                out[key.value] = (packets, sum(c.bytes for c in per_cpu))
        return out


class FlowTable(_Family):
    """The monitor's per-flow map (``flows``) and its instance config."""

    def configure(self, out_ifindex: int, smac: bytes, dmac: bytes,
                  direction: NfDirection = NfDirection.FORWARD) -> None:
        """Send ``direction``'s packets out of ``out_ifindex`` with these MACs."""
        self._map("nf_config", U32, NfConfig).update(U32(direction),
                                                     NfConfig.of(out_ifindex, smac, dmac))

    def punt_new_flows(self, on: bool) -> None:
        """On: flows without a ready entry (and first SYN-ACKs) go to the agent, which creates
        the entries; off (no agent serves the monitor): the kernel creates them itself."""
        self._map("monitor_mode", U32, U32).update(U32(0), U32(int(on)))

    def egress(self) -> dict[int, tuple[int, bytes, bytes]]:
        """direction → (ifindex, source MAC, destination MAC) frames leave by, for every
        direction configured (0 forward; 1 replies, where the program has a reply entry)."""
        config = self._map("nf_config", U32, NfConfig)
        out = {}
        for direction in range(min(2, config.max_entries)):
            cfg = config.lookup(U32(direction))
            if cfg is not None and cfg.out_ifindex:
                out[direction] = (int(cfg.out_ifindex), bytes(cfg.smac), bytes(cfg.dmac))
        if 0 not in out:
            raise LookupError("the monitor's nf_config was never written")
        return out

    def flow_map(self) -> BpfMap[Any, Any]:
        return self._map("flows", FlowKeyC, FlowStats)

    def size(self) -> int:
        return len(list(self._map("flows", FlowKeyC, FlowStats).keys()))

    def capacity(self) -> int:
        return self._map("flows", FlowKeyC, FlowStats).max_entries

    def entries(self) -> dict[FlowKey, FlowStats]:
        return {k.to_flow(): v for k, v in self._map("flows", FlowKeyC, FlowStats).items()}

    def export(self, buckets: set[int], bucket_count: int) -> list[tuple[bytes, bytes]]:
        """Remove and return (canonical key, value bytes) of every flow in ``buckets``."""
        flows = self._map("flows", FlowKeyC, FlowStats)
        chosen = [k for k, _ in flows.items()
                  if bucket_of_bytes(k.canonical(), bucket_count) in buckets]
        out = []
        for key in chosen:
            value = flows.pop(key)
            if value is not None:
                out.append((key.canonical(), bytes(value)))
        return out

    def import_(self, entries: list[tuple[bytes, bytes]]) -> int:
        flows = self._map("flows", FlowKeyC, FlowStats)
        return flows.update_batch((FlowKeyC.from_buffer_copy(k + bytes(3)),
                                   FlowStats.from_buffer_copy(v)) for k, v in entries)


class UplinkMaps(_Family):
    """The configuration of ``uplink.c``: where the steering host sends replies."""

    def configure(self, out_ifindex: int, smac: bytes, dmac: bytes) -> None:
        """Send every reply out of ``out_ifindex`` (the link to gen) with these MACs."""
        self._map("uplink_config", U32, NfConfig).update(U32(0),
                                                         NfConfig.of(out_ifindex, smac, dmac))


class SinkCounters(_Family):
    """The sink's per-flow records, latency histograms, throughput slots and their settings.

    Histograms and slots are per-CPU counters the sink only adds to; read them between or
    after time slots (docs/measurement.md): the slot being written reads short.
    """

    def flows(self) -> dict[FlowKey, tuple[int, int]]:
        return {k: (v.packets, v.bytes) for k, v in self.records().items()}

    def records(self) -> dict[FlowKey, SinkFlow]:
        """Canonical flow → its receive counters and sequence state."""
        return {k.to_flow(): v for k, v in self._map("sink_flows", FlowKeyC, SinkFlow).items()}

    @property
    def phases(self) -> int:
        return self._map("latency_hist", U32, ct.c_uint64).max_entries // HIST_BUCKETS

    @property
    def slot_ring(self) -> int:
        return self._map("throughput", U32, SlotCount).max_entries

    @property
    def slot_ns(self) -> int:
        """The throughput slot length in effect."""
        return self.config().slot_ns or DEFAULT_SLOT_NS

    def config(self) -> MeasConfig:
        config = self._map("meas_config", U32, MeasConfig).lookup(U32(0))
        return config if config is not None else MeasConfig()

    def configure(self, start_ns: int, slot_ns: int, phase: int = 0, clock_ns: int = 0) -> None:
        """Slot 0 starts at ``start_ns`` (CLOCK_MONOTONIC); ``clock_ns`` fakes "now" (tests).
        Whether the sink reflects is left as it was."""
        if slot_ns < 1:
            raise ValueError(f"slot_ns must be positive, got {slot_ns}")
        self._check_phase(phase)
        self._map("meas_config", U32, MeasConfig).update(
            U32(0), MeasConfig(start_ns, slot_ns, clock_ns, phase, self.config().reflect))

    def set_reflect(self, reflect: bool) -> None:
        """Send every packet back as its reply (True) or consume it (False); one map write."""
        config = self.config()
        config.reflect = int(reflect)
        self._map("meas_config", U32, MeasConfig).update(U32(0), config)

    def reflecting(self) -> bool:
        return bool(self.config().reflect)

    def set_phase(self, phase: int) -> None:
        """Send later latency samples to ``phase``'s histogram (one map write)."""
        self._check_phase(phase)
        config = self.config()
        config.phase = phase
        self._map("meas_config", U32, MeasConfig).update(U32(0), config)

    def set_clock(self, clock_ns: int) -> None:
        """Fix the sink's "now" at ``clock_ns`` (0: back to bpf_ktime_get_ns)."""
        config = self.config()
        config.clock_ns = clock_ns
        self._map("meas_config", U32, MeasConfig).update(U32(0), config)

    def _check_phase(self, phase: int) -> None:
        if not 0 <= phase < self.phases:
            raise ValueError(f"phase {phase} out of range [0, {self.phases}); the sink was "
                             f"loaded with MAX_PHASES={self.phases}")

    def histograms(self) -> list[Histogram]:
        """One latency histogram per phase, summed over CPUs."""
        counts = [0] * (self.phases * HIST_BUCKETS)
        for key, per_cpu in self._map("latency_hist", U32, ct.c_uint64).items_percpu():
            counts[key.value] = sum(v.value for v in per_cpu)
        return [Histogram(tuple(counts[i * HIST_BUCKETS:(i + 1) * HIST_BUCKETS]))
                for i in range(self.phases)]

    def histogram(self, phase: int | None = None) -> Histogram:
        """``phase``'s histogram, or (None) every phase's merged: the overall histogram."""
        all_phases = self.histograms()
        if phase is None:
            return Histogram.merged(all_phases)
        self._check_phase(phase)
        return all_phases[phase]

    def slots(self) -> dict[int, tuple[int, int]]:
        """Absolute slot number → (packets, bytes), for the last ring's worth of slots."""
        totals: dict[int, list[int]] = {}
        for _, per_cpu in self._map("throughput", U32, SlotCount).items_percpu():
            for c in per_cpu:
                if c.packets:
                    entry = totals.setdefault(c.slot, [0, 0])
                    entry[0] += c.packets
                    entry[1] += c.bytes
        return {s: (p, b) for s, (p, b) in self._last_ring(totals).items()}

    def slot_histograms(self) -> dict[int, Histogram]:
        """Absolute slot number → the latency histogram of the samples taken in that slot,
        for the last ring's worth of slots that have samples."""
        totals: dict[int, list[int]] = {}
        for _, per_cpu in self._map("slot_latency", U32, SlotHist).items_percpu():
            for h in per_cpu:
                counts = list(h.counts)
                if any(counts):
                    entry = totals.setdefault(h.slot, [0] * HIST_BUCKETS)
                    for i, n in enumerate(counts):
                        entry[i] += n
        return {s: Histogram(tuple(c)) for s, c in self._last_ring(totals).items()}

    def _last_ring(self, by_slot: dict[int, list[int]]) -> dict[int, list[int]]:
        """Entries older than a ring behind the newest may be partly overwritten: dropped."""
        if not by_slot:
            return {}
        newest = max(by_slot)
        return {s: v for s, v in sorted(by_slot.items()) if s > newest - self.slot_ring}
