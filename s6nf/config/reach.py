"""``s6nf config check --reach``: can this host reach every listener of the control plane the
configuration describes? Run on the controller host once everything is started, before
scaling, it names each agent (or the target, or the controller) that cannot be reached and
why, with the field that gives its address.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from s6nf.config.schema import TestbedConfig


@dataclass(frozen=True)
class Listener:
    field: str
    """The configuration field that gives its address."""
    what: str
    address: str
    """``ip:port``."""


def listeners(config: TestbedConfig, instances: int | None = None) -> list[Listener]:
    """The target, the controller's API, and each agent's control and state services (of the
    first ``instances`` nf hosts, default ``nf.instances``)."""
    count = config.nf.instances if instances is None else instances
    out = [Listener("target.address", f"the {config.target.kind} target (P4Runtime)",
                    config.target.address),
           Listener(f"hosts.{config.controller.host}.management", "the controller's API",
                    config.controller_address)]
    for host in config.nf_hosts[:count]:
        for what, port in (("control service", config.nf.control_port),
                           ("state channel", config.nf.state_port)):
            out.append(Listener(f"hosts.{host.name}.management", f"agent {host.name}'s {what}",
                                f"{host.management_ip}:{port}"))
    return out


def unreachable(config: TestbedConfig, instances: int | None = None,
                timeout_s: float = 2.0) -> list[str]:
    """One line per listener a TCP connection from here cannot reach; empty if all can."""
    problems = []
    for listener in listeners(config, instances):
        ip, _, port = listener.address.rpartition(":")
        try:
            with socket.create_connection((ip, int(port)), timeout=timeout_s):
                pass
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            problems.append(f"{listener.field}: {listener.what} at {listener.address} cannot "
                            f"be reached from here: {reason}")
    return problems
