"""What every NF program's maps have in common: per-direction egress (``nf_config``) and one
per-flow map of fixed-size records, behind one family (``s6nf.agent.maps``)."""

from __future__ import annotations

import ctypes as ct
from typing import Any, ClassVar, Generic, TypeVar

from s6nf.agent.bpfmap import BpfMap
from s6nf.agent.maps import _Family
from s6nf.agent.records import Record
from s6nf.agent.structs import FlowKeyC, NfConfig
from s6nf.keys import CANONICAL_KEY_LEN

U32 = ct.c_uint32
R = TypeVar("R", bound=Record)


class NfTables(_Family, Generic[R]):
    NF: ClassVar[str]
    """The NF's name, for messages."""
    FLOWS: ClassVar[str]
    """Its per-flow map's name."""
    VALUE: ClassVar[type[Any]]
    """The map's ctypes value type."""
    RECORD: ClassVar[type[Any]]
    """The record type the values decode to (``R``)."""

    def configure(self, direction: int, out_ifindex: int, smac: bytes, dmac: bytes) -> None:
        """Packets of ``direction`` (0 forward, 1 replies) leave by ``out_ifindex``."""
        self._map("nf_config", U32, NfConfig).update(U32(direction),
                                                      NfConfig.of(out_ifindex, smac, dmac))

    def egress(self, direction: int) -> tuple[int, bytes, bytes]:
        """(ifindex, source MAC, destination MAC) of ``direction``."""
        cfg = self._map("nf_config", U32, NfConfig).lookup(U32(direction))
        if cfg is None or not cfg.out_ifindex:
            raise LookupError(f"the {self.NF}'s direction {direction} is not configured")
        return cfg.out_ifindex, bytes(cfg.smac), bytes(cfg.dmac)

    def flows(self) -> BpfMap[Any, Any]:
        return self._map(self.FLOWS, FlowKeyC, self.VALUE)

    def entries(self) -> dict[bytes, R]:
        """Canonical key → a copy of its record."""
        record: type[R] = self.RECORD
        return {bytes(k)[:CANONICAL_KEY_LEN]: record.from_bytes(bytes(v))
                for k, v in self.flows().items()}
