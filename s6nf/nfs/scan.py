"""The IDS's shared objects: a port-scan window per source address and the settings every
instance reads.

``ScanWindow`` (MultiWriter, keyed by the source's ``IpKey``) keeps the distinct
(destination, port) pairs the source opened flows to within the last ``window_s`` seconds.
New flows add to it with ``@untether`` calls; the slow path reads the count ``@stale`` and,
once that reaches the threshold, makes the strict ``flag`` call, which alerts at most once per
window for a source, however many instances see it at the threshold together.

``IdsSettings`` (MultiWriter, one object) holds the whitelist and the scan parameters; the
slow path reads it through a ``@stale`` read, so a change reaches every instance within the
bound without a round trip per packet.
"""

from __future__ import annotations

from s6nf.agent.dso import stale, untether

MAX_TRACKED = 4096
"""Pairs kept per source at most; the oldest go first (a flood cannot grow one object)."""


class ScanWindow:
    def __init__(self) -> None:
        self.seen: dict[int, float] = {}
        """(destination << 16 | port) → when last opened."""
        self.alerted_until = 0.0

    def _prune(self, now: float, window_s: float) -> None:
        old = [pair for pair, t in self.seen.items() if t < now - window_s]
        for pair in old:
            del self.seen[pair]
        while len(self.seen) > MAX_TRACKED:
            del self.seen[min(self.seen, key=self.seen.__getitem__)]

    @untether
    def add(self, dst: int, port: int, now: float, window_s: float) -> None:
        pair = dst << 16 | port
        self.seen[pair] = max(now, self.seen.get(pair, now))
        self._prune(now, window_s)

    @stale(0.05)
    def distinct(self) -> int:
        return len(self.seen)

    def flag(self, now: float, window_s: float, threshold: int) -> int:
        """Strict: the distinct count if it reaches ``threshold`` and no alert was raised in
        this window yet (then one is now), else 0."""
        self._prune(now, window_s)
        if len(self.seen) < threshold or now < self.alerted_until:
            return 0
        self.alerted_until = now + window_s
        return len(self.seen)


class IdsSettings:
    def __init__(self) -> None:
        self.whitelist: list[int] = []
        self.threshold = 20
        self.window_s = 10.0

    def configure(self, whitelist: list[int], threshold: int, window_s: float) -> None:
        """Strict: every instance's next stale read after its bound sees the change."""
        self.whitelist = sorted(set(whitelist))
        self.threshold = threshold
        self.window_s = window_s

    @stale(1.0)
    def read(self) -> tuple[list[int], int, float]:
        return self.whitelist, self.threshold, self.window_s
