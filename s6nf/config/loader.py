"""Parse and validate a testbed configuration file (TOML) into ``TestbedConfig``.

Everything is checked here, before anything is started: unknown roles and fields, duplicate
addresses, MACs and names, address and MAC syntax, the interfaces each role needs, links
that name a missing interface, the instance count against the nf hosts, port ranges, and
that every agent and the target are reachable on the management network.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from pathlib import Path
from typing import Any

from s6nf.config.fields import Section
from s6nf.config.schema import (
    ROLES,
    TARGET_KINDS,
    ConfigError,
    ControllerConfig,
    Host,
    Interface,
    MapSizes,
    NfConfig,
    TargetConfig,
    TestbedConfig,
)
from s6nf.config.topology_rules import MAX_NF_HOSTS, check_links, check_roles
from s6nf.keys import DEFAULT_BUCKETS, check_buckets

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "testbed.toml"
"""The repository's ``testbed.toml``: the embedded testbed."""
_HOST = re.compile(r"^[a-z][a-z0-9]{0,7}$")
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_NF_NAME = re.compile(r"^nf([0-9]|[1-9][0-9])$")


def load(path: Path | str = DEFAULT_PATH) -> TestbedConfig:
    """Read and validate ``path``; raises ConfigError naming the offending field."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read the configuration: {exc.strerror}") from None
    return parse(text, path)


def parse(text: str, source: Path | None = None) -> TestbedConfig:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(source or "<config>"), f"not valid TOML: {exc}") from None
    return from_dict(raw, source)


def from_dict(raw: dict[str, Any], source: Path | None = None) -> TestbedConfig:
    top = Section(raw, "")
    mgmt = top.table("management")
    network = mgmt.network("network")
    mgmt.done()
    hosts_section = top.table("hosts")
    hosts = tuple(_host(name, hosts_section.table(name)) for name in hosts_section.data)
    if not hosts:
        raise ConfigError("hosts", "no hosts; describe at least gen, switch, nf, sink and "
                          "controller hosts")
    hosts_section.done()
    config = TestbedConfig(
        management_network=network, hosts=hosts, nf=_nf(top.table("nf")),
        target=_target(top.table("target")), controller=_controller(top.table("controller")),
        maps=_maps(top.table("maps", {})), source=source,
        tls_dir=_tls_dir(top.table("tls", {}), source))
    top.done()
    _check(config)
    return config


def _host(name: str, s: Section) -> Host:
    if not _HOST.match(name):
        raise ConfigError(s.path, f"bad host name {name!r}; use 1-8 lower-case letters and "
                          "digits starting with a letter")
    role = s.choice("role", ROLES)
    if role == "nf" and not _NF_NAME.match(name):
        raise ConfigError(s.field("role"), f"an nf host is named nf<instance> (nf0..nf61), "
                          f"got {name!r}")
    management = s.interface_address("management")
    data_section = s.table("data", {})
    data = tuple(_interface(name, ifname, data_section.table(ifname))
                 for ifname in data_section.data)
    s.done()
    return Host(name, role, management, data)


def _interface(host: str, name: str, s: Section) -> Interface:
    if not _IFNAME.match(name):
        raise ConfigError(s.path, f"bad interface name {name!r}; at most 15 characters of "
                          "letters, digits, '_', '.', '-'")
    iface = Interface(host, name, s.mac("mac"), s.interface_address("address"),
                      s.text("peer", None))
    s.done()
    return iface


def _nf(s: Section) -> NfConfig:
    nf = NfConfig(s.text("name"), s.integer("instances", 1, MAX_NF_HOSTS),
                  s.port("control_port"), s.port("state_port"), _nf_options(s.table("options", {})))
    if not re.match(r"^[a-z][a-z0-9_]*$", nf.name):
        raise ConfigError(s.field("name"), f"bad NF name {nf.name!r}; the name of an eBPF "
                          "program in ebpf/, like monitor")
    s.done()
    return nf


def _nf_options(s: Section) -> tuple[tuple[str, str], ...]:
    """Each option a string (``public = "198.51.100.1"``); the agent checks the names."""
    return tuple((key, s.text(key)) for key in s.data)


def _target(s: Section) -> TargetConfig:
    kind = s.choice("kind", TARGET_KINDS)
    address, device_id = s.endpoint("address"), s.integer("device_id", 0, 2**64 - 1, 1)
    paths = {key: s.text(key, None) for key in ("p4info", "device_config")}
    for key, value in paths.items():
        if kind == "bmv2" and value is None:
            raise ConfigError(s.field(key), "missing; a bmv2 target needs p4c's outputs "
                              "(p4info and device_config)")
        if kind == "ebpf" and value is not None:
            raise ConfigError(s.field(key), "only a bmv2 target takes p4c's outputs; the eBPF "
                              "target's pipeline is built in")
    s.done()
    return TargetConfig(kind, address, device_id,
                        *(None if v is None else Path(v) for v in paths.values()))


def _controller(s: Section) -> ControllerConfig:
    out = ControllerConfig(s.text("host"), s.port("api_port"),
                           Path(s.text("state_file", "/var/lib/s6nf/controller.json")))
    s.done()
    return out


def _maps(s: Section) -> MapSizes:
    buckets = s.integer("buckets", 1, 1 << 20, DEFAULT_BUCKETS)
    try:
        check_buckets(buckets)
    except ValueError as exc:
        raise ConfigError(s.field("buckets"), str(exc)) from None
    ring = s.integer("punt_ring_mib", 1, 1024, 32)
    if ring & (ring - 1):
        raise ConfigError(s.field("punt_ring_mib"), f"{ring} is not a power of two (a BPF "
                          "ring buffer's size is a power of two pages)")
    out = MapSizes(buckets, s.integer("flows", 1, 1 << 24, 65536), ring)
    s.done()
    return out


def _tls_dir(s: Section, source: Path | None) -> Path | None:
    value = s.text("dir", None)
    s.done()
    if value is None:
        return None
    if not value:
        raise ConfigError(s.field("dir"), "empty; the directory `s6nf pki init --dir` wrote")
    path = Path(value)
    return path if path.is_absolute() or source is None else source.parent / path


def _check(config: TestbedConfig) -> None:
    _check_unique(config)
    check_roles(config)
    check_links(config)
    _check_management(config)
    nf_hosts = len(config.nf_hosts)
    if config.nf.instances > nf_hosts:
        raise ConfigError("nf.instances", f"{config.nf.instances} instances but only {nf_hosts} "
                          "nf hosts; add hosts or lower the count")
    if config.nf.control_port == config.nf.state_port:
        raise ConfigError("nf.state_port", f"port {config.nf.state_port} is also "
                          "nf.control_port; agents need two ports")


def _check_unique(config: TestbedConfig) -> None:
    addresses: dict[str, str] = {}
    macs: dict[str, str] = {}
    for host in config.hosts:
        field = f"hosts.{host.name}.management"
        _claim(addresses, host.management_ip, field, "address")
        for iface in host.data:
            field = f"hosts.{host.name}.data.{iface.name}"
            _claim(addresses, str(iface.ip.ip), f"{field}.address", "address")
            _claim(macs, iface.mac, f"{field}.mac", "MAC")


def _claim(seen: dict[str, str], value: str, field: str, what: str) -> None:
    if value in seen:
        raise ConfigError(field, f"duplicate {what} {value} (also {seen[value]})")
    seen[value] = field


def _check_management(config: TestbedConfig) -> None:
    network = ipaddress.IPv4Network(config.management_network)
    for host in config.hosts:
        ip = ipaddress.IPv4Address(host.management_ip)
        if ip not in network:
            who = {"nf": "the controller cannot reach this agent",
                   "switch": "the controller cannot reach the target"}.get(host.role,
                                                                           "it is unreachable")
            raise ConfigError(f"hosts.{host.name}.management", f"{ip} is outside the "
                              f"management network {network}: {who}")
    switch = config.only("switch")
    target_ip = config.target.address.rsplit(":", 1)[0]
    if target_ip != switch.management_ip:
        raise ConfigError("target.address", f"{target_ip} is not the switch host's management "
                          f"address (hosts.{switch.name}.management = {switch.management_ip})")
    try:
        controller = config.host(config.controller.host)
    except LookupError:
        raise ConfigError("controller.host", f"no host {config.controller.host!r}") from None
    if controller.role != "controller":
        raise ConfigError("controller.host", f"host {controller.name!r} has role "
                          f"{controller.role!r}, not controller")
