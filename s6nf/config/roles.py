"""The command-line options of each role's process, taken from the configuration.

``s6nf controller run --config FILE`` and ``s6nf agent run --config FILE --host NAME`` fill
every option not given on the command line from here, so a server needs only the file and
its host name.
"""

from __future__ import annotations

from typing import Any

from s6nf.config.schema import ConfigError, TestbedConfig


def controller_options(config: TestbedConfig) -> dict[str, Any]:
    target = config.target
    return {"bind": config.controller_address, "device": target.address,
            "device_id": target.device_id, "device_config": target.device_config,
            "p4info": target.p4info,
            "state_file": config.controller.state_file, "tls_dir": config.tls_dir}


def agent_options(config: TestbedConfig, host_name: str) -> dict[str, Any]:
    from s6nf.testbed.topology import port_of

    try:
        host = config.host(host_name)
    except LookupError:
        names = ", ".join(h.name for h in config.nf_hosts)
        raise ConfigError("--host", f"no host {host_name!r} in {config.source}; nf hosts: "
                          f"{names}") from None
    if host.role != "nf":
        raise ConfigError("--host", f"host {host_name!r} has role {host.role!r}; agents run "
                          "on nf hosts")
    switch = config.only("switch")
    to_nf = config.link_between(switch.name, host.name)[1]
    return {"instance": host.instance, "controller": config.controller_address,
            "advertise": host.management_ip, "port": port_of(host.instance),
            "dmac": to_nf.mac, "control_port": config.nf.control_port,
            "state_port": config.nf.state_port, "buckets": config.maps.buckets,
            "tls_dir": config.tls_dir}
