"""The IDS program's maps behind one family: per-flow entries and per-direction egress."""

from __future__ import annotations

import ctypes as ct
from typing import Any

from s6nf.agent.bpfmap import BpfMap
from s6nf.agent.maps import _Family
from s6nf.agent.structs import FlowKeyC, IdsFlow, IdsFlowRecord, NfConfig

U32 = ct.c_uint32


class IdsTables(_Family):
    def configure(self, direction: int, out_ifindex: int, smac: bytes, dmac: bytes) -> None:
        """Packets of ``direction`` (0 forward, 1 replies) leave by ``out_ifindex``."""
        self._map("nf_config", U32, NfConfig).update(U32(direction),
                                                      NfConfig.of(out_ifindex, smac, dmac))

    def egress(self, direction: int) -> tuple[int, bytes, bytes]:
        cfg = self._map("nf_config", U32, NfConfig).lookup(U32(direction))
        if cfg is None or not cfg.out_ifindex:
            raise LookupError(f"the IDS's direction {direction} is not configured")
        return cfg.out_ifindex, bytes(cfg.smac), bytes(cfg.dmac)

    def flows(self) -> BpfMap[Any, Any]:
        return self._map("ids_flows", FlowKeyC, IdsFlow)

    def entries(self) -> dict[bytes, IdsFlowRecord]:
        return {bytes(k)[:13]: IdsFlowRecord.from_bytes(bytes(v))
                for k, v in self.flows().items()}
