"""The embedded testbed's topology as data: hosts, links, addresses and MACs (DESIGN.md §9).

``gen`` → ``sw`` → ``nf0..nfN-1`` → ``sink``. Hosts, addresses and MACs come from the
testbed configuration (``testbed.toml`` by default, ``s6nf.config``); the testbed name gives
the namespaces and the instance ids pick which nf hosts run. The same description serves
``up``, ``status``, ``down`` and the tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache

from s6nf.config import TestbedConfig, load
from s6nf.config.schema import Interface, Role
from s6nf.config.topology_rules import MAX_NF_HOSTS

MAX_INSTANCES = MAX_NF_HOSTS
"""Logical ports 1..62 on the steering host (port 0 means none; MAX_PORTS is 64)."""
_NAME = re.compile(r"^[a-z][a-z0-9]{0,7}$")
EMBEDDED_HOSTS: dict[Role, str] = {"gen": "gen", "switch": "sw", "sink": "sink"}
"""The embedded testbed addresses these hosts by name (namespaces, pin directories)."""


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


@cache
def default_config() -> TestbedConfig:
    """The repository's ``testbed.toml``, read once."""
    return embedded_config(load())


def embedded_config(config: TestbedConfig) -> TestbedConfig:
    """``config`` if the embedded testbed can run it: its gen, switch and sink hosts carry the
    names the testbed uses."""
    for role, name in EMBEDDED_HOSTS.items():
        host = config.only(role)
        if host.name != name:
            raise ValueError(f"hosts.{host.name}.role: the embedded testbed needs the {role} "
                             f"host named {name!r}, got {host.name!r}")
    return config


@dataclass(frozen=True)
class Topology:
    name: str
    """Prefix of every namespace and pin directory this testbed makes."""
    instances: tuple[int, ...]
    config: TestbedConfig = field(default_factory=default_config, repr=False, compare=False)
    """Where hosts, addresses and MACs come from."""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"testbed name must match {_NAME.pattern}, got {self.name!r}")
        if len(set(self.instances)) != len(self.instances):
            raise ValueError(f"duplicate instance ids: {self.instances}")
        known = [h.instance for h in self.config.nf_hosts]
        for i in self.instances:
            if i not in known:
                raise ValueError(f"instance id {i} out of range: {self._source} describes nf "
                                 f"hosts {', '.join(map(instance_host, known))}; add nf{i} there")

    @property
    def _source(self) -> str:
        return str(self.config.source or "the configuration")

    @property
    def hosts(self) -> list[str]:
        return ["gen", "sw", *(instance_host(i) for i in self.instances), "sink"]

    def namespace(self, host: str) -> str:
        return f"{self.name}-{host}"

    @property
    def links(self) -> list[Link]:
        out = [gen_link(self.config)]
        for i in self.instances:
            out.extend(instance_links(i, self.config))
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


def _endpoint(iface: Interface) -> Endpoint:
    return Endpoint(iface.host, iface.name, iface.mac, iface.address)


def _link(config: TestbedConfig, a: str, b: str) -> Link:
    x, y = config.link_between(a, b)
    return Link(_endpoint(x), _endpoint(y))


def gen_link(config: TestbedConfig | None = None) -> Link:
    """gen's interface ↔ the switch's interface towards gen."""
    return _link(config or default_config(), "gen", "sw")


def instance_links(i: int, config: TestbedConfig | None = None) -> tuple[Link, Link]:
    """sw:nf<i> ↔ nf<i>:in and nf<i>:out ↔ sink:nf<i> (interface names from the config)."""
    config = config or default_config()
    host = instance_host(i)
    return _link(config, "sw", host), _link(config, host, "sink")


def embedded(name: str, instances: Iterable[int],
             config: TestbedConfig | None = None) -> Topology:
    return Topology(name, tuple(sorted(instances)), config or default_config())
