"""The embedded testbed's topology as data: hosts, links, addresses and MACs (DESIGN.md §9).

``gen`` → ``sw`` → ``nf0..nfN-1`` → ``sink``. Everything is derived from the testbed name and
the instance ids, so the same description serves ``up``, ``status``, ``down`` and the tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

MAX_INSTANCES = 62
"""Logical ports 1..62 on the steering host (port 0 means none; MAX_PORTS is 64)."""
_NAME = re.compile(r"^[a-z][a-z0-9]{0,7}$")


@dataclass(frozen=True)
class Endpoint:
    host: str
    """Host role name: gen, sw, nf<i> or sink."""
    ifname: str
    mac: str
    address: str
    """IPv4 address with prefix length, informational: the data path is pure XDP."""


@dataclass(frozen=True)
class Link:
    a: Endpoint
    b: Endpoint


@dataclass(frozen=True)
class Topology:
    name: str
    """Prefix of every namespace and pin directory this testbed makes."""
    instances: tuple[int, ...]

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"testbed name must match {_NAME.pattern}, got {self.name!r}")
        if len(set(self.instances)) != len(self.instances):
            raise ValueError(f"duplicate instance ids: {self.instances}")
        for i in self.instances:
            if not 0 <= i < MAX_INSTANCES:
                raise ValueError(f"instance id {i} out of range [0, {MAX_INSTANCES - 1}]")

    @property
    def hosts(self) -> list[str]:
        return ["gen", "sw", *(instance_host(i) for i in self.instances), "sink"]

    def namespace(self, host: str) -> str:
        return f"{self.name}-{host}"

    @property
    def links(self) -> list[Link]:
        out = [gen_link()]
        for i in self.instances:
            out.extend(instance_links(i))
        return out

    def endpoint(self, host: str, ifname: str) -> Endpoint:
        for link in self.links:
            for end in (link.a, link.b):
                if end.host == host and end.ifname == ifname:
                    return end
        raise LookupError(f"no interface {ifname!r} on host {host!r}")


def instance_host(instance: int) -> str:
    return f"nf{instance}"


def port_of(instance: int) -> int:
    """The steering host's logical port towards ``instance``."""
    return instance + 1


def _mac(host_byte: int, port_byte: int) -> str:
    return f"02:53:36:00:{host_byte:02x}:{port_byte:02x}"


def gen_link() -> Link:
    return Link(Endpoint("gen", "eth0", _mac(0xFE, 0), "10.53.255.1/30"),
                Endpoint("sw", "gen", _mac(0xFD, 0), "10.53.255.2/30"))


def instance_links(i: int) -> tuple[Link, Link]:
    """sw:nf<i> ↔ nf<i>:in and nf<i>:out ↔ sink:nf<i>, each a /30 of 10.53.<i>.0/24."""
    host = instance_host(i)
    to_nf = Link(Endpoint("sw", host, _mac(0xFD, port_of(i)), f"10.53.{i}.1/30"),
                 Endpoint(host, "in", _mac(i, 1), f"10.53.{i}.2/30"))
    to_sink = Link(Endpoint(host, "out", _mac(i, 2), f"10.53.{i}.5/30"),
                   Endpoint("sink", host, _mac(0xFC, port_of(i)), f"10.53.{i}.6/30"))
    return to_nf, to_sink


def embedded(name: str, instances: Iterable[int]) -> Topology:
    return Topology(name, tuple(sorted(instances)))
