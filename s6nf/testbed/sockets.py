"""The TCP sockets of a network namespace, read from ``/proc/thread-self/net/tcp``: what
shows that the control plane talks over the management network and nothing else."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from s6nf import netns

LISTEN = "0A"
ESTABLISHED = "01"


@dataclass(frozen=True)
class TcpSocket:
    local: tuple[str, int]
    remote: tuple[str, int]
    state: str
    """The kernel's state code in hex (``01`` established, ``0A`` listening)."""

    @property
    def listening(self) -> bool:
        return self.state == LISTEN

    def to_json(self) -> dict[str, Any]:
        return {"local": f"{self.local[0]}:{self.local[1]}",
                "remote": f"{self.remote[0]}:{self.remote[1]}", "state": self.state}

    def outside(self, network: str) -> list[str]:
        """The endpoints (``ip:port``) of this socket not in ``network``; a listener's
        unconnected remote end (0.0.0.0:0) is not an endpoint."""
        net = ipaddress.IPv4Network(network)
        ends = [self.local] if self.listening else [self.local, self.remote]
        return [f"{ip}:{port}" for ip, port in ends if ipaddress.IPv4Address(ip) not in net]


def tcp_sockets(namespace: str) -> list[TcpSocket]:
    """Every IPv4 TCP socket in ``namespace``."""
    with netns.entered(namespace), open("/proc/thread-self/net/tcp") as table:
        rows = table.read().splitlines()[1:]
    out = []
    for row in rows:
        local, remote, state = row.split()[1:4]
        out.append(TcpSocket(_address(local), _address(remote), state))
    return out


def _address(hex_pair: str) -> tuple[str, int]:
    ip, port = hex_pair.split(":")
    return str(ipaddress.IPv4Address(bytes.fromhex(ip)[::-1])), int(port, 16)
