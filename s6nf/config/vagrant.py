"""The Vagrant testbed's hosts and networks, from the same configuration as the embedded one.

The Vagrantfile runs ``python3 -m s6nf.config.vagrant [FILE]`` (Ruby has no TOML parser) and
reads the JSON it prints: one VM per host, its management address on the management network,
and one internal network per data link, named after the link's two hosts so each is a
point-to-point wire like the embedded testbed's veth pairs. Only the standard library is
imported here, so the host's ``python3`` (3.11 or newer) runs it without the venv.
"""

from __future__ import annotations

import ipaddress
import json
import sys
from typing import Any

from s6nf.config.loader import DEFAULT_PATH, load
from s6nf.config.schema import ConfigError, Host, TestbedConfig

NETWORK_PREFIX = "s6nf"
"""Prefix of every internal network's name (``s6nf-mgmt``, ``s6nf-sw-nf0``)."""


def vagrant_hosts(config: TestbedConfig) -> dict[str, Any]:
    """What the Vagrantfile needs, as JSON-ready data."""
    networks = {}
    for a, b in config.links():
        name = f"{NETWORK_PREFIX}-{a.host}-{b.host}"
        networks[a.ref] = networks[b.ref] = name
    return {
        "source": str(config.source or ""),
        "management_network": config.management_network,
        "nf_instances": config.nf.instances,
        "controller": config.controller_address,
        "target": {"kind": config.target.kind, "address": config.target.address,
                   "device_id": config.target.device_id,
                   "p4info": _str(config.target.p4info),
                   "device_config": _str(config.target.device_config)},
        "hosts": [_host(h, networks) for h in config.hosts],
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
    try:
        config = load(argv[0] if argv else DEFAULT_PATH)
    except ConfigError as exc:
        print(f"s6nf config: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(vagrant_hosts(config), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
