"""The eBPF target: the steering pipeline's tables as the BPF maps of ``ebpf/steer.c``.

P4 ``key_space`` is the active copy of the ``key_space`` map (batches swap copies, so they
take effect at once), ``flow_pin`` the ``flow_pin`` map, ``bucket_counter`` the per-CPU
``bucket_stats``. A P4 port is the steering host's logical port, resolved to an interface
through the ``ports`` map the testbed (or operator) fills.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from s6nf.agent.libbpf import BpfError
from s6nf.agent.maps import SteeringMaps
from s6nf.agent.p4rt.backend import BackendError, Drop, Forward, PacketsBytes, Verdict
from s6nf.agent.structs import FwdAction, FwdTarget
from s6nf.keys import unpack_canonical


def to_target(verdict: Verdict) -> FwdTarget:
    if isinstance(verdict, Drop):
        return FwdTarget.drop()
    return FwdTarget.of(verdict.port, verdict.dmac)


def to_verdict(target: FwdTarget) -> Verdict | None:
    if target.action == FwdAction.FORWARD:
        return Forward(target.port, bytes(target.dmac))
    if target.action == FwdAction.DROP:
        return Drop()
    return None


class EbpfBackend:
    """A ``SteeringBackend`` over one loaded steering program's maps."""

    def __init__(self, maps: SteeringMaps) -> None:
        self._maps = maps

    @property
    def buckets(self) -> int:
        return self._maps.buckets

    @property
    def max_pins(self) -> int:
        return self._maps.max_pins

    def read_key_space(self) -> dict[int, Verdict]:
        out: dict[int, Verdict] = {}
        for bucket, target in enumerate(self._maps.key_space()):
            verdict = to_verdict(target)
            if verdict is not None:
                out[bucket] = verdict
        return out

    def apply_key_space(self, updates: Mapping[int, Verdict | None]) -> None:
        targets = {b: None if v is None else to_target(v) for b, v in updates.items()}
        try:
            self._maps.apply_key_space(targets)
        except BpfError as exc:
            raise BackendError(f"key_space batch of {len(updates)} entries failed: {exc}") from exc

    def read_flow_pins(self) -> dict[bytes, Verdict]:
        out: dict[bytes, Verdict] = {}
        for key, target in self._maps.pins().items():
            verdict = to_verdict(target)
            if verdict is not None:
                out[key.canonical()] = verdict
        return out

    def _pin(self, key: bytes, verdict: Verdict) -> None:
        try:
            self._maps.pin(unpack_canonical(key), to_target(verdict))
        except BpfError as exc:
            raise BackendError(f"flow_pin write of {key.hex()} failed: {exc}") from exc

    def insert_flow_pin(self, key: bytes, verdict: Verdict) -> None:
        self._pin(key, verdict)

    def modify_flow_pin(self, key: bytes, verdict: Verdict) -> None:
        self._pin(key, verdict)

    def delete_flow_pin(self, key: bytes) -> None:
        if not self._maps.unpin(unpack_canonical(key)):
            raise BackendError(f"flow_pin has no entry {key.hex()}")

    def read_bucket_counters(self, indices: Iterable[int] | None = None) -> dict[int, PacketsBytes]:
        counted = self._maps.bucket_counters()
        wanted = range(self.buckets) if indices is None else indices
        return {b: counted.get(b, (0, 0)) for b in wanted}
