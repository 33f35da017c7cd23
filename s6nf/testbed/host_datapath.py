"""One host's data path, from the configuration: the programs on its data interfaces and the
maps that say where each way goes. The embedded testbed runs these in each host's namespace;
``s6nf host up`` runs them on a server or VM (namespace None), so both load the same way.

- switch: ``steer`` on the interface from gen, and a logical port per nf host's interface;
- nf host: the NF's program on the interface from the switch, its reply entry on the one to
  the sink, and its tables told the next hop's interface and MACs both ways;
- sink: ``sink`` on every interface from an nf host.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from s6nf import netns
from s6nf.agent.maps import FlowTable, SteeringMaps
from s6nf.agent.structs import NfDirection, mac_bytes
from s6nf.config import TestbedConfig
from s6nf.nfs.ids_maps import IdsTables
from s6nf.nfs.nat_maps import NatTables
from s6nf.testbed.programs import attach_pinned, pin_name, pin_program
from s6nf.testbed.topology import instance_host, port_of

REPLY_ENTRIES = {"monitor": "xdp_monitor_reply", "nat": "xdp_nat_reply", "ids": "xdp_ids_reply"}
"""NF programs' second XDP entry, for replies, attached on the instance's interface to the
sink (idle until the sink reflects)."""


def defines(config: TestbedConfig, buckets: int | None = None) -> dict[str, int]:
    """The map sizes every program is compiled with (``[maps]``)."""
    return {"BUCKETS": buckets or config.maps.buckets, "MAX_FLOWS": config.maps.flows,
            "PUNT_RING_PAGES": config.maps.punt_ring_pages}


def load_attached(program: str, pin_dir: Path, namespace: str | None, ifnames: Sequence[str],
                  sizes: Mapping[str, int], functions: Sequence[str] = ()) -> None:
    """Attach ``program`` (loaded once per pin directory, pinned with its further entry
    ``functions``) to ``ifnames``."""
    pin_program(program, pin_dir, sizes, functions)
    attach_pinned(pin_dir / f"prog_{program}", namespace, ifnames)


def ifindex(namespace: str | None, ifname: str) -> int:
    with netns.entered(namespace):
        return socket.if_nametoindex(ifname)


def switch_host(config: TestbedConfig, pin_dir: Path, namespace: str | None,
                sizes: Mapping[str, int], instances: Iterable[int]) -> None:
    """``steer`` on the switch's interface from gen, and the port to each of ``instances``."""
    switch, gen = config.only("switch"), config.only("gen")
    from_gen = config.link_between(switch.name, gen.name)[0]
    load_attached("steer", pin_dir, namespace, [from_gen.name], sizes)
    for instance in instances:
        switch_port(config, pin_dir, namespace, instance)


def switch_port(config: TestbedConfig, pin_dir: Path, namespace: str | None,
                instance: int) -> None:
    """The switch's logical port to nf<instance>: its interface on that link."""
    switch = config.only("switch")
    to_nf = config.link_between(switch.name, instance_host(instance))[0]
    with SteeringMaps.pinned(pin_dir) as steering:
        steering.set_port(port_of(instance), ifindex(namespace, to_nf.name))


def nf_host(config: TestbedConfig, host: str, nf: str, pin_dir: Path, namespace: str | None,
            sizes: Mapping[str, int]) -> None:
    """The NF's program on ``host``'s interface from the switch, its reply entry on the one to
    the sink; forward packets leave towards the sink, replies towards the switch."""
    from_switch, switch_end = config.link_between(host, config.only("switch").name)
    to_sink, sink_end = config.link_between(host, config.only("sink").name)
    reply = REPLY_ENTRIES.get(nf)
    load_attached(nf, pin_dir, namespace, [from_switch.name], sizes, [reply] if reply else [])
    if reply is not None:
        attach_pinned(pin_dir / pin_name(reply), namespace, [to_sink.name])
    out = ifindex(namespace, to_sink.name), mac_bytes(to_sink.mac), mac_bytes(sink_end.mac)
    back = (ifindex(namespace, from_switch.name), mac_bytes(from_switch.mac),
            mac_bytes(switch_end.mac))
    if nf in ("nat", "ids"):
        family = NatTables if nf == "nat" else IdsTables
        with family.pinned(pin_dir) as tables:
            tables.configure(NfDirection.FORWARD, *out)
            tables.configure(NfDirection.REPLY, *back)
    else:
        with FlowTable.pinned(pin_dir) as table:
            table.configure(*out)
            table.configure(*back, NfDirection.REPLY)


def sink_host(config: TestbedConfig, pin_dir: Path, namespace: str | None,
              sizes: Mapping[str, int], instances: Iterable[int]) -> None:
    """``sink`` on the sink's interface from each of ``instances``."""
    sink = config.only("sink")
    ifnames = [config.link_between(sink.name, f"nf{i}")[0].name for i in instances]
    load_attached("sink", pin_dir, namespace, ifnames, sizes)


def data_interfaces(config: TestbedConfig, host: str, instances: Iterable[int]) -> list[str]:
    """``host``'s data interfaces, leaving out those to nf hosts other than ``instances``'."""
    names = {f"nf{i}" for i in instances}
    out = []
    for a, b in config.links():
        for end, other in ((a, b), (b, a)):
            if end.host == host and (config.host(other.host).role != "nf" or other.host in names):
                out.append(end.name)
    return out
