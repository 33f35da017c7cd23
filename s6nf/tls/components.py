"""Which certificates a deployment needs and which addresses each must name."""

from __future__ import annotations

import ipaddress

from s6nf.config.schema import TestbedConfig

DEFAULT_INSTANCES = 8


def components(config: TestbedConfig | None, instances: int | None = None,
               extra: list[str] | None = None) -> dict[str, list[str]]:
    """Component name → the IP addresses its certificate must name: from the configuration
    (management addresses; the CLI runs on the controller host), or loopback only for
    ``instances`` agents; ``extra`` addresses go into every certificate."""
    extra = extra or []
    for ip in extra:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise ValueError(f"--ip {ip!r} is not an IP address") from None
    if config is None:
        count = DEFAULT_INSTANCES if instances is None else instances
        if count < 1:
            raise ValueError(f"--instances must be at least 1, got {count}")
        out: dict[str, list[str]] = {"controller": [], "switch": [], "client": []}
        out.update({f"nf{i}": [] for i in range(count)})
    else:
        if instances is not None:
            raise ValueError("--instances is for use without --config; the configuration's "
                             "nf hosts decide")
        ctl = config.host(config.controller.host).management_ip
        out = {"controller": [ctl], "switch": [config.target.address.rsplit(":", 1)[0]],
               "client": [ctl]}
        out.update({h.name: [h.management_ip] for h in config.nf_hosts})
    return {name: [*ips, *extra] for name, ips in out.items()}
