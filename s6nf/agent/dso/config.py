"""Agent settings and the controller-facing epoch messages (DESIGN.md §5, §6)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from s6nf.keyspace import KeySpace
from s6nf.tls import Material


class Mode(Enum):
    """Runtime behaviours compared side by side by the benchmarks (DESIGN.md §6)."""

    S6 = "s6"
    """Objects move to their accessor; lazy pull plus background push on scale events."""
    LOCAL_ONLY = "local-only"
    """Every key is homed here: no sharing, no migration (fast, wrong after scaling)."""
    REMOTE_ONLY = "remote-only"
    """A SingleWriter object goes back to its home after every access; stale reads are strict."""
    STOP_AND_COPY = "stop-and-copy"
    """``switch`` pauses accesses here until every moved object has been copied out."""


class Replicas(Enum):
    """Whether an agent keeps backups of what it holds (docs/failover.md)."""

    OFF = "off"
    """No backups: a dead agent's objects are lost."""
    ASYNC = "async"
    """Every map asynchronously, even those marked synchronous (cheapest; a failover may
    then lose what a synchronous map promises to keep, e.g. give a NAT port twice)."""
    DECLARED = "declared"
    """Each map as it declares (``SwMap``/``MwMap`` ``replication``; asynchronous unless
    marked synchronous): what agents run by default."""
    SYNC = "sync"
    """Every map synchronously."""


@dataclass(frozen=True)
class AgentConfig:
    instance: int
    """This agent's id: the value the key space uses as owner."""
    mode: Mode = Mode.S6
    """See ``Mode``."""
    call_timeout_s: float = 5.0
    """A remote request with no answer after this long fails with ``CallTimeout``."""
    flush_interval_s: float = 0.0005
    """Longest time a one-way (untether) call waits in a batch before it is sent."""
    max_batch: int = 4096
    """Messages per frame; a batch this large is sent at once."""
    max_key_queue: int = 1024
    """Micro-thread work items queued per key before new ones are refused (``Overflow``)."""
    max_buffered: int = 1 << 20
    """Messages buffered per link before sends are refused (``Overflow``)."""
    push_batch: int = 2048
    """Objects exported per background migration batch."""
    stale_cache_entries: int = 65536
    """Cached stale answers per map; the cache is emptied when it reaches this size."""
    tls: Material | None = None
    """This agent's TLS material: the state channel serves and dials peers with mutual TLS;
    None for none (insecure)."""
    replicas: Replicas = Replicas.OFF
    """Backups of held objects at a second instance; see ``Replicas``."""
    replicate_interval_s: float = 0.05
    """Asynchronous replication sends what changed at least this often: the most a failure
    can lose of an asynchronously replicated object's updates."""
    replicate_sweep: int = 2048
    """Entries of each eBPF-backed map a replication pass reads to find the kernel's own
    updates (counters, flags): a map of n entries is read whole in ceil(n / this) passes."""
    replicate_sweep_s: float = 0.5
    """A sweep of an eBPF-backed map begins at most this often: the kernel's updates of a
    map of n entries wait at most max(this, ceil(n / replicate_sweep) passes) plus a pass
    before they are sent (docs/failover.md)."""
    replica_timeout_s: float = 1.0
    """A synchronous replication not acknowledged within this long gives up (the object is
    sent again with the next batch), so a dead backup cannot stall the slow path."""


@dataclass(frozen=True)
class Prepare:
    """Controller → agent: key space e+1 and the addresses of its instances."""

    key_space: KeySpace
    """The next epoch's bucket → instance map."""
    addresses: Mapping[int, str] = field(default_factory=dict)
    """instance id → "host:port" of its state channel, for every instance of the key space."""


@dataclass(frozen=True)
class Switch:
    """Controller → agent: steering now follows ``epoch``; its homes are authoritative."""

    epoch: int
    """The prepared epoch to make current."""


@dataclass(frozen=True)
class EpochStatus:
    """Agent → controller: what this agent still holds from older epochs."""

    instance: int
    """The reporting agent."""
    epoch: int
    """The epoch this agent acts in."""
    to_push: int
    """Objects held here whose home is elsewhere and that were acquired in an older epoch."""
    in_flight: int
    """Objects pushed and not yet acknowledged, plus acquires begun in an older epoch."""

    @property
    def drained(self) -> bool:
        return self.to_push == 0 and self.in_flight == 0
