"""How replication finds the kernel's own changes to eBPF-backed objects at a bounded cost.

The kernel updates per-flow entries in place (packet and byte counts, last-seen time, FIN/RST
flags) and some datapaths create entries themselves (the monitor's): nothing tells the agent
which entries changed. Reading the whole map every pass cost ~2 µs per entry in Python, so
at 20,000 entries a 50 ms pass took 40 ms and the agent fell behind. A ``MapSweep`` reads the
map a slice per pass instead, from where the last pass stopped, with one batch lookup: a pass
costs at most ``per_pass`` entries however large the map, and a map of n entries is read
whole in ceil(n / per_pass) passes. A sweep begins at most every ``period_s``, so a small map
whose counters all change (every active flow's do) is not sent again every pass: that bounds
what counters cost at n / ``period_s`` entries a second. Both bound how late a kernel update
reaches the backup (docs/failover.md). What the agent itself writes or deletes is not left
to the sweep: the storage records those keys (``EbpfStorage.changes``) and the next pass
sends them.
"""

from __future__ import annotations

from typing import Any

from s6nf.agent.dso.ebpf_storage import EbpfStorage


class MapSweep:
    """One eBPF-backed map read ``per_pass`` entries at a time, round and round."""

    def __init__(self, storage: EbpfStorage[Any], per_pass: int, period_s: float = 0.0) -> None:
        if per_pass < 1:
            raise ValueError(f"a replication sweep reads at least 1 entry per pass, got "
                             f"{per_pass}")
        if period_s < 0:
            raise ValueError(f"a replication sweep's period is at least 0 s, got {period_s}")
        self.storage = storage
        self.per_pass = per_pass
        self.period_s = period_s
        self._began: float | None = None
        self._cursor: int | None = None
        self._seen: set[bytes] = set()
        self._passes = 0
        self.sweeps = 0
        """Whole sweeps completed."""
        self.last_passes = 0
        """Passes the last whole sweep took: a kernel update waited at most this many."""

    def next_slice(self, now: float) -> tuple[dict[bytes, bytes], set[bytes] | None]:
        """The next slice's entries (canonical key → bytes), and when the slice ended a whole
        sweep, every key the sweep saw (keys not in it were deleted before the sweep reached
        them, or added after it passed them). Nothing while the next sweep must wait."""
        if self._cursor is None:
            if self._began is not None and now - self._began < self.period_s:
                return {}, None
            self._began = now
        entries, self._cursor = self.storage.raw.scan(self._cursor, self.per_pass)
        n = self.storage.key_len
        got = {k[:n]: v for k, v in entries}
        self._seen.update(got)
        self._passes += 1
        if self._cursor is not None:
            return got, None
        seen = self._seen
        self.sweeps += 1
        self.last_passes = self._passes
        self._seen, self._passes = set(), 0
        return got, seen

    def restart(self, now: float) -> None:
        """The caller read the whole map at ``now``: the next sweep begins a period later."""
        self._cursor, self._seen, self._passes, self._began = None, set(), 0, now
