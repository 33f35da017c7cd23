"""The asset monitor's shared objects: one ``Asset`` per host (MultiWriter, keyed by its
``IpKey``) and one ``Totals`` for the whole NF. The slow path changes them with ``@untether``
calls only (one-way, never waiting on a remote home); readers use ``@stale`` reads.

Every update is commutative (minimum, maximum, counts, set union), so the order in which
untether calls from several instances reach a home does not change the result.
"""

from __future__ import annotations

from typing import Any

from s6nf.agent.dso import stale, untether

OS_BY_TTL = ((64, "linux/unix"), (128, "windows"), (255, "network device/solaris"))
"""Initial TTL → the systems that start there (p0f's and PRADS's first cut)."""
BSD_WINDOWS = frozenset({65535})
"""With an initial TTL of 64, a 65535 window points at BSD or macOS rather than Linux."""


def initial_ttl(ttl: int) -> int:
    """The initial TTL a sender most likely used: the next of 64, 128, 255 at or above."""
    return next((start for start, _ in OS_BY_TTL if ttl <= start), 255)


def os_hint(ttl: int, window: int) -> str:
    """A coarse OS guess from a SYN's or SYN-ACK's TTL and window ("" without a TTL)."""
    if ttl <= 0:
        return ""
    start = initial_ttl(ttl)
    if start == 64 and window in BSD_WINDOWS:
        return "bsd/macos"
    return dict(OS_BY_TTL)[start]


class Asset:
    """What the monitor knows about one host."""

    def __init__(self) -> None:
        self.first_seen_ns = 0
        self.last_seen_ns = 0
        self.flows = 0
        self.services: dict[str, int] = {}
        """"tcp/80" → flows whose SYN-ACK came from this port; "udp/53" → flows to it."""
        self.os = ""
        self.ttl = 0
        self.window = 0

    @untether
    def seen(self, now_ns: int) -> None:
        """The host took part in a new flow."""
        self.flows += 1
        self._touch(now_ns)

    @untether
    def service(self, name: str, now_ns: int) -> None:
        self.services[name] = self.services.get(name, 0) + 1
        self._touch(now_ns)

    @untether
    def fingerprint(self, ttl: int, window: int, now_ns: int) -> None:
        """A SYN or SYN-ACK from the host; the highest TTL wins (fewest hops on the way, so
        the least ambiguous), ties by the larger window, so the result is order-free."""
        if (ttl, window) > (self.ttl, self.window):
            self.ttl, self.window, self.os = ttl, window, os_hint(ttl, window)
        self._touch(now_ns)

    def _touch(self, now_ns: int) -> None:
        self.first_seen_ns = now_ns if not self.first_seen_ns else min(self.first_seen_ns, now_ns)
        self.last_seen_ns = max(self.last_seen_ns, now_ns)

    @stale(1.0)
    def describe(self) -> dict[str, Any]:
        return {"first_seen_ns": self.first_seen_ns, "last_seen_ns": self.last_seen_ns,
                "flows": self.flows, "services": dict(self.services), "os": self.os,
                "ttl": self.ttl, "window": self.window}


class Totals:
    """Counts over every instance: new flows by protocol and handshakes seen."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    @untether
    def add(self, name: str, n: int) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    @stale(0.5)
    def read(self) -> dict[str, int]:
        return dict(self.counts)
