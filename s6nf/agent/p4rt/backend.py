"""The steering backend: the data plane under the P4Runtime server (docs/steering.md).

The server speaks P4Runtime and keeps the protocol's rules; a backend only holds the
``key_space`` and ``flow_pin`` tables and the ``bucket_counter`` of ``p4/steer.p4``. The eBPF
target implements it over BPF maps, ``MemoryBackend`` in process memory.

The server is the only writer: it validates every batch against ``read_*`` before it calls a
mutating method, so a backend raises only for failures of its own (a full map, a failed
syscall), as ``BackendError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

PORT_BITS = 9
MAC_LEN = 6


@dataclass(frozen=True, slots=True)
class Forward:
    """Action ``forward``: send the packet out of ``port`` with destination MAC ``dmac``."""

    port: int
    """Egress port (``port_t``, 9 bits)."""
    dmac: bytes
    """The NF instance's MAC address, 6 bytes."""

    def __post_init__(self) -> None:
        if not 0 <= self.port < 1 << PORT_BITS:
            raise ValueError(f"port must fit in {PORT_BITS} bits, got {self.port}")
        if len(self.dmac) != MAC_LEN:
            raise ValueError(f"dmac must be {MAC_LEN} bytes, got {self.dmac.hex()!r}")


@dataclass(frozen=True, slots=True)
class Drop:
    """Action ``drop``: an explicit entry that drops (unlike a missing entry, it is read back)."""


Verdict = Forward | Drop
"""What a table entry does with a packet."""

PacketsBytes = tuple[int, int]
"""A counter cell: (packets, bytes)."""


class BackendError(Exception):
    """The data plane refused or failed an operation the server had validated."""


class SteeringBackend(Protocol):
    """The tables and counter of the steering pipeline in one data plane.

    Buckets are ``int`` in ``[0, buckets)``; flow keys are the 13 canonical bytes of
    ``s6nf.keys.FlowKey.canonical``.
    """

    @property
    def buckets(self) -> int:
        """Entries of ``key_space`` and cells of ``bucket_counter`` (a power of two)."""
        ...

    @property
    def max_pins(self) -> int:
        """Capacity of ``flow_pin``."""
        ...

    def read_key_space(self) -> dict[int, Verdict]:
        """Every bucket that has an entry, with its verdict."""
        ...

    def apply_key_space(self, updates: Mapping[int, Verdict | None]) -> None:
        """Set (``Verdict``) or delete (``None``) the entries of the given buckets.

        The whole batch takes effect in the data plane at once: no packet sees a mix of
        old and new entries. On ``BackendError`` nothing has changed.
        """
        ...

    def read_flow_pins(self) -> dict[bytes, Verdict]:
        """Every pinned flow key with its verdict."""
        ...

    def insert_flow_pin(self, key: bytes, verdict: Verdict) -> None:
        """Pin a flow that has no pin yet."""
        ...

    def modify_flow_pin(self, key: bytes, verdict: Verdict) -> None:
        """Change the verdict of an existing pin."""
        ...

    def delete_flow_pin(self, key: bytes) -> None:
        """Remove an existing pin; the flow falls back to the key space."""
        ...

    def read_bucket_counters(self, indices: Iterable[int] | None = None) -> dict[int, PacketsBytes]:
        """(packets, bytes) of the given buckets, or of every bucket for ``None``."""
        ...
