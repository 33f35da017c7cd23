"""The controller's state and messages as frozen data (the pure core works on these)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from s6nf.keyspace import KeySpace
from s6nf.rpc import field as json_field


@dataclass(frozen=True)
class Steer:
    """Where steering sends a bucket: the switch port towards an instance and its MAC."""

    port: int
    """Egress port of the steering target (a logical port on the eBPF target)."""
    dmac: bytes
    """The instance's MAC on the data path, 6 bytes."""

    def __post_init__(self) -> None:
        if not 0 <= self.port < 512:
            raise ValueError(f"port must fit in 9 bits, got {self.port}")
        if len(self.dmac) != 6:
            raise ValueError(f"dmac must be 6 bytes, got {self.dmac.hex()!r}")


@dataclass(frozen=True)
class Member:
    """A registered agent: one NF instance."""

    instance: int
    """Instance id, as in the key space."""
    control: str
    """host:port of the agent's control service."""
    state: str
    """host:port of the agent's state channel (given to its peers)."""
    steer: Steer
    """How steering reaches this instance."""
    last_seen: float
    """Controller time of the last registration or heartbeat."""

    def to_json(self) -> dict[str, Any]:
        return {"instance": self.instance, "control": self.control, "state": self.state,
                "port": self.steer.port, "dmac": self.steer.dmac.hex(":")}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], now: float) -> Member:
        d = dict(data)
        instance = json_field(d, "instance", int)
        if instance < 0:
            raise ValueError(f"instance must be >= 0, got {instance}")
        mac = json_field(d, "dmac", str)
        try:
            dmac = bytes.fromhex(mac.replace(":", ""))
        except ValueError as exc:
            raise ValueError(f"dmac is not a MAC address: {mac!r}") from exc
        for name in ("control", "state"):
            _check_address(json_field(d, name, str), name)
        return cls(instance, d["control"], d["state"], Steer(json_field(d, "port", int), dmac),
                   now)


def _check_address(address: str, name: str) -> None:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{name} must be host:port, got {address!r}")


@dataclass(frozen=True)
class ControllerState:
    """Everything the controller must remember across a restart."""

    key_space: KeySpace | None = None
    """The current epoch's key space; None before the first install."""
    members: Mapping[int, Member] = field(default_factory=dict)
    """Registered agents by instance id."""

    def with_member(self, member: Member) -> ControllerState:
        return replace(self, members={**self.members, member.instance: member})

    def without_member(self, instance: int) -> ControllerState:
        return replace(self, members={i: m for i, m in self.members.items() if i != instance})

    @property
    def owners(self) -> frozenset[int]:
        return frozenset() if self.key_space is None else self.key_space.instances

    def addresses(self) -> dict[int, str]:
        return {i: m.state for i, m in self.members.items()}


@dataclass(frozen=True)
class ScalePlan:
    """One scale event, computed before anything is sent."""

    current: KeySpace | None
    """The key space being left (None for the first install)."""
    next: KeySpace
    """The key space of the new epoch."""
    moved: tuple[int, ...]
    """Buckets whose owner changes (every bucket for the first install)."""
    steering: Mapping[int, Steer]
    """The steering updates that switch the moved buckets."""
    agents: tuple[int, ...]
    """Every instance involved: owners before and after."""
