"""What each role needs: host counts per role, and the data links between them.

The data path is ``gen → switch → nf<i> → sink``: the gen host has a link to the switch, the
switch one to each nf host, each nf host one to the sink. A link is named by ``peer`` on
either end (or both, if they agree).
"""

from __future__ import annotations

from s6nf.config.schema import ConfigError, Interface, Role, TestbedConfig

MAX_NF_HOSTS = 62
"""Logical ports 1..62 on the switch (port 0 means none; MAX_PORTS is 64)."""
_ONE_EACH: tuple[Role, ...] = ("gen", "switch", "sink", "controller")


def check_roles(config: TestbedConfig) -> None:
    for role in _ONE_EACH:
        hosts = config.by_role(role)
        if len(hosts) != 1:
            names = ", ".join(h.name for h in hosts) or "none"
            raise ConfigError("hosts", f"exactly one host needs role {role!r}, found {names}")
    nf = config.by_role("nf")
    if not 1 <= len(nf) <= MAX_NF_HOSTS:
        raise ConfigError("hosts", f"1 to {MAX_NF_HOSTS} hosts need role 'nf', found {len(nf)}")
    controller = config.only("controller")
    if controller.data:
        raise ConfigError(f"hosts.{controller.name}.data", "the controller host has no data "
                          "interfaces; it talks over the management network only")


def check_links(config: TestbedConfig) -> None:
    ifaces = {i.ref: i for h in config.hosts for i in h.data}
    linked: dict[str, str] = {}
    for iface in ifaces.values():
        if iface.peer is None:
            continue
        field = f"hosts.{iface.host}.data.{iface.name}.peer"
        other = ifaces.get(iface.peer)
        if other is None:
            raise ConfigError(field, f"no interface {iface.peer!r}; name it as host.interface, "
                              "e.g. sw.nf0")
        if other.peer not in (None, iface.ref):
            raise ConfigError(field, f"{iface.peer} names {other.peer} as its peer, not "
                              f"{iface.ref}")
        for end, peer in ((iface, other), (other, iface)):
            if linked.get(end.ref, peer.ref) != peer.ref:
                raise ConfigError(field, f"{end.ref} is already linked to {linked[end.ref]}")
            linked[end.ref] = peer.ref
    for a, b in config.links():
        if a.ip.network != b.ip.network:
            end, peer = (a, b) if a.peer is not None else (b, a)
            raise ConfigError(f"hosts.{end.host}.data.{end.name}.address",
                              f"{end.address} is not in the subnet of its peer {peer.ref} "
                              f"({peer.address})")
    _check_needs(config)


def _check_needs(config: TestbedConfig) -> None:
    gen, switch, sink = (config.only(r) for r in ("gen", "switch", "sink"))
    _need(config, gen.name, switch.name)
    for nf in config.nf_hosts:
        _need(config, switch.name, nf.name)
        _need(config, nf.name, sink.name)
    for a, b in config.links():
        pair = (config.host(a.host).role, config.host(b.host).role)
        if pair not in (("gen", "switch"), ("switch", "nf"), ("nf", "sink")):
            raise ConfigError(f"hosts.{a.host}.data.{a.name}.peer", f"a {pair[0]} host does not "
                              f"link to a {pair[1]} host; the data path is gen → switch → nf → "
                              "sink")


def _need(config: TestbedConfig, a: str, b: str) -> None:
    """Hosts ``a`` and ``b`` must share exactly one data link."""
    found: list[Interface] = [x for x, y in config.links() if {x.host, y.host} == {a, b}]
    if not found:
        raise ConfigError(f"hosts.{b}.data", f"missing interface: no data link between {a} "
                          f"and {b}; give one interface peer = \"{a}.<interface>\"")
    if len(found) > 1:
        raise ConfigError(f"hosts.{b}.data", f"{len(found)} data links between {a} and {b}; "
                          "one is expected")
