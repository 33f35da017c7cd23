"""The Vagrant testbed's hosts and networks, from the same configuration as the embedded one.

The Vagrantfile runs ``python3 -m s6nf.config.vagrant [--target KIND] [--instances N] FILE``
(Ruby has no TOML parser) and reads the JSON it prints: one VM per host, its management
address on the management network, one internal network per data link, named after the
link's two hosts so each is a point-to-point wire like the embedded testbed's veth pairs, the
target the VMs run (the file's, or ``--target``: ``S6NF_TARGET``) and the next steps printed
when ``vagrant up`` is done. Only the standard library is imported here, so the host's
``python3`` (3.11 or newer) runs it without the venv.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from pathlib import Path
from typing import Any

from s6nf.config.loader import DEFAULT_PATH, load
from s6nf.config.schema import ConfigError, Host, TestbedConfig
from s6nf.config.units import next_steps, with_target

NETWORK_PREFIX = "s6nf"
"""Prefix of every internal network's name (``s6nf-mgmt``, ``s6nf-sw-nf0``)."""


VM_ROOT = Path("/s6nf")
"""Where the Vagrantfile syncs the repository on every VM."""


def vagrant_hosts(config: TestbedConfig, target: str | None = None,
                  instances: int | None = None, vm_config: str = "") -> dict[str, Any]:
    """What the Vagrantfile needs, as JSON-ready data: ``config``'s hosts for ``instances`` nf
    VMs (default ``nf.instances``) with ``target`` (default the file's ``target.kind``)."""
    config = with_target(config, target or config.target.kind, VM_ROOT)
    count = config.nf.instances if instances is None else instances
    if not 1 <= count <= len(config.nf_hosts):
        raise ConfigError("S6NF_NF_HOSTS", f"{count} nf VMs; between 1 and the "
                          f"{len(config.nf_hosts)} nf hosts of the configuration")
    networks = {}
    for a, b in config.links():
        name = f"{NETWORK_PREFIX}-{a.host}-{b.host}"
        networks[a.ref] = networks[b.ref] = name
    return {
        "source": str(config.source or ""),
        "management_network": config.management_network,
        "nf_instances": count,
        "controller": config.controller_address,
        "target": {"kind": config.target.kind, "address": config.target.address,
                   "device_id": config.target.device_id,
                   "p4info": _str(config.target.p4info),
                   "device_config": _str(config.target.device_config)},
        "hosts": [_host(h, networks) for h in config.hosts
                  if h.role != "nf" or h.instance < count],
        "next_steps": next_steps(config, count, vm_config or str(config.source or "")),
    }


def _str(value: object | None) -> str | None:
    return None if value is None else str(value)


def _host(host: Host, networks: dict[str, str]) -> dict[str, Any]:
    mgmt = ipaddress.IPv4Interface(host.management)
    out: dict[str, Any] = {
        "name": host.name, "role": host.role,
        "instance": host.instance if host.role == "nf" else None,
        "management": {"ip": str(mgmt.ip), "netmask": str(mgmt.netmask),
                       "network": f"{NETWORK_PREFIX}-mgmt"},
        "data": [],
    }
    for iface in host.data:
        out["data"].append({"name": iface.name, "mac": iface.mac,
                            "ip": str(iface.ip.ip), "netmask": str(iface.ip.netmask),
                            "network": networks[iface.ref]})
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m s6nf.config.vagrant")
    parser.add_argument("--target", default=None, help="bmv2 or ebpf (default: the file's)")
    parser.add_argument("--instances", type=int, default=None,
                        help="nf VMs (default: nf.instances of the file)")
    parser.add_argument("--vm-config", default="", help="the file's path on the VMs")
    parser.add_argument("file", nargs="?", default=str(DEFAULT_PATH))
    args = parser.parse_args(argv)
    try:
        config = load(args.file)
        hosts = vagrant_hosts(config, args.target, args.instances, args.vm_config)
    except ConfigError as exc:
        print(f"s6nf config: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(hosts, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
