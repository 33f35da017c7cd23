"""The testbed configuration as frozen dataclasses: what ``testbed.toml`` describes.

One file describes the hosts (their roles, management address and data interfaces), the NF,
the steering target, the controller and the map sizes. The embedded testbed
(``s6nf.testbed.topology``) and the Vagrant testbed (``s6nf.config.vagrant``) are both built
from it; ``s6nf.config.loader`` parses and validates it before anything starts.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Role = Literal["gen", "switch", "nf", "sink", "controller"]
ROLES: tuple[Role, ...] = ("gen", "switch", "nf", "sink", "controller")
TargetKind = Literal["ebpf", "bmv2"]
TARGET_KINDS: tuple[TargetKind, ...] = ("ebpf", "bmv2")


class ConfigError(ValueError):
    """The configuration is wrong; ``field`` is the path of the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Interface:
    """One data-network interface of a host."""

    host: str
    """Name of the host it belongs to."""
    name: str
    """Interface name on the host: a veth in the embedded testbed, a NIC on servers."""
    mac: str
    """MAC address, lower case, colon separated."""
    address: str
    """IPv4 address with prefix length (``10.53.0.2/30``)."""
    peer: str | None
    """``host.interface`` at the other end of the link, if given on this side."""

    @property
    def ref(self) -> str:
        return f"{self.host}.{self.name}"

    @property
    def ip(self) -> ipaddress.IPv4Interface:
        return ipaddress.IPv4Interface(self.address)


@dataclass(frozen=True)
class Host:
    """A machine (or, embedded, a network namespace) with one role."""

    name: str
    """Host name; NF hosts are named ``nf<instance>``."""
    role: Role
    """What runs there: gen (traffic source), switch (steering), nf (an NF instance and its
    agent), sink (traffic sink and measurement) or controller."""
    management: str
    """Management address with prefix length; control and state traffic use only this."""
    data: tuple[Interface, ...]
    """Data-network interfaces, in file order."""

    @property
    def management_ip(self) -> str:
        return str(ipaddress.IPv4Interface(self.management).ip)

    @property
    def instance(self) -> int:
        """The NF instance id of an nf host (its name is ``nf<instance>``)."""
        if self.role != "nf":
            raise LookupError(f"host {self.name!r} is a {self.role} host, not an nf host")
        return int(self.name[2:])

    def interface(self, name: str) -> Interface:
        for iface in self.data:
            if iface.name == name:
                return iface
        raise LookupError(f"no interface {name!r} on host {self.name!r}")


@dataclass(frozen=True)
class NfConfig:
    """The network function the NF hosts run."""

    name: str
    """The NF's eBPF program (``ebpf/<name>.c``), e.g. ``monitor``."""
    instances: int
    """Instances started by default; at most the number of nf hosts."""
    control_port: int
    """TCP port of each agent's control service (the controller calls it)."""
    state_port: int
    """TCP port of each agent's state channel (peers call it during migration)."""
    options: tuple[tuple[str, str], ...] = ()
    """The NF's settings for its agents' slow path (``[nf.options]``, e.g. the NAT's
    ``public`` address), as ``s6nf agent run --nf-option KEY=VALUE`` takes them."""


@dataclass(frozen=True)
class TargetConfig:
    """The steering target the controller drives over P4Runtime."""

    kind: TargetKind
    """``ebpf`` (XDP steering served by ``s6nf p4 server``) or ``bmv2`` (simple_switch_grpc)."""
    address: str
    """``ip:port`` of the P4Runtime server, on the switch host's management address."""
    device_id: int
    """P4Runtime device id."""
    p4info: Path | None
    """bmv2 only: p4c's P4Info output (text format)."""
    device_config: Path | None
    """bmv2 only: p4c's bmv2 JSON, pushed with SetForwardingPipelineConfig."""

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])


@dataclass(frozen=True)
class ControllerConfig:
    """Where the controller runs and keeps its state."""

    host: str
    """Name of the controller host."""
    api_port: int
    """TCP port of its API (``s6nf scale``, ``s6nf status`` and agents' registrations)."""
    state_file: Path
    """Where it persists membership and the key space."""


@dataclass(frozen=True)
class MapSizes:
    """Sizes of the data-path maps, passed to the loader as cflags."""

    buckets: int
    """Steering buckets (power of two); the key space's granularity."""
    flows: int
    """Entries of each per-flow hash map (``MAX_FLOWS``) on NF hosts and the sink."""
    punt_ring_mib: int = 32
    """Size of each NF instance's punt ring in MiB (a power of two; ``PUNT_RING_PAGES`` of
    4 KiB): the packets waiting for the slow path, about 7,000 small frames per MiB."""

    @property
    def punt_ring_pages(self) -> int:
        return self.punt_ring_mib * 256


@dataclass(frozen=True)
class TestbedConfig:
    """A whole validated configuration."""

    __test__ = False

    management_network: str
    """The management network (``10.54.0.0/24``); every host's management address is in it."""
    hosts: tuple[Host, ...]
    """Every host, in file order."""
    nf: NfConfig
    target: TargetConfig
    controller: ControllerConfig
    maps: MapSizes
    source: Path | None = None
    """The file it was read from."""
    tls_dir: Path | None = None
    """Directory of the CA and component certificates (``[tls] dir``; relative to the file);
    None: the control plane runs without TLS (docs/security.md)."""

    def host(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        raise LookupError(f"no host {name!r} in the configuration")

    def by_role(self, role: Role) -> list[Host]:
        return [h for h in self.hosts if h.role == role]

    def only(self, role: Role) -> Host:
        """The one host of a role that has exactly one (gen, switch, sink, controller)."""
        (host,) = self.by_role(role)
        return host

    @property
    def nf_hosts(self) -> list[Host]:
        """NF hosts ordered by instance id."""
        return sorted(self.by_role("nf"), key=lambda h: h.instance)

    @property
    def controller_address(self) -> str:
        return f"{self.host(self.controller.host).management_ip}:{self.controller.api_port}"

    def links(self) -> list[tuple[Interface, Interface]]:
        """Every data link once, upstream end first (gen → switch → nf → sink)."""
        ifaces = {i.ref: i for h in self.hosts for i in h.data}
        order = {role: n for n, role in enumerate(ROLES)}
        seen: set[str] = set()
        out = []
        for iface in ifaces.values():
            if iface.peer is None or iface.ref in seen:
                continue
            other = ifaces[iface.peer]
            seen.update((iface.ref, other.ref))
            roles = (self.host(iface.host).role, self.host(other.host).role)
            out.append((iface, other) if order[roles[0]] <= order[roles[1]] else (other, iface))
        return out

    def link_between(self, a: str, b: str) -> tuple[Interface, Interface]:
        """The link between hosts ``a`` and ``b``, ``a``'s end first."""
        for x, y in self.links():
            if (x.host, y.host) == (a, b):
                return x, y
            if (x.host, y.host) == (b, a):
                return y, x
        raise LookupError(f"no data link between hosts {a!r} and {b!r}")
