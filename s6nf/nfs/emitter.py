"""Re-injecting slow-path frames onto the wire: one AF_PACKET socket per direction, bound to
the interface that direction's fast path redirects to.

A frame sent this way and a frame the fast path redirects to the same veth enter the same
receive ring of the peer (one queue per veth here), so re-injected frames keep their place.
Sockets are made inside the instance's network namespace and keep working after the thread
leaves it; sending never blocks (a full queue is a counted drop).
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Mapping

from s6nf import netns

log = logging.getLogger(__name__)
ETH_P_ALL = 0x0003


class PacketEmitter:
    def __init__(self, interfaces: Mapping[int, str], namespace: str | None = None) -> None:
        """``interfaces``: direction → interface name in ``namespace``."""
        self.sent = 0
        self.dropped = 0
        self._sockets: dict[int, socket.socket] = {}
        try:
            with netns.entered(namespace):
                for direction, ifname in interfaces.items():
                    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
                    self._sockets[direction] = sock
                    sock.bind((ifname, 0))
                    sock.setblocking(False)
        except OSError:
            self.close()
            raise

    def emit(self, direction: int, frame: bytes) -> None:
        try:
            self._sockets[direction].send(frame)
        except KeyError:
            raise ValueError(f"no interface for direction {direction}") from None
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ENOBUFS):
                raise
            self.dropped += 1
            log.warning("re-injection queue full on direction %d: frame dropped", direction)
            return
        self.sent += 1

    def close(self) -> None:
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()


def interface_names(ifindexes: Mapping[int, int], namespace: str | None) -> dict[int, str]:
    """direction → ifindex, resolved to names inside ``namespace``."""
    with netns.entered(namespace):
        return {d: socket.if_indextoname(i) for d, i in ifindexes.items()}
