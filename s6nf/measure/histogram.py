"""The sink's latency histogram: bucket arithmetic mirroring ``ebpf/include/histogram.h``.

Log-linear (HDR-style) buckets over nanoseconds: values below ``SUB`` (32) have a bucket each;
each power of two [2^m, 2^(m+1)) above splits into ``SUB`` equal buckets of width
2^(m - SUB_BITS), so a bucket is at most 1/32 (3.1 %) of its values wide. The last bucket also
takes everything from 2^(MAX_LOG2 + 1) ns (about 68.7 s) on.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SUB_BITS = 5
SUB = 1 << SUB_BITS
MAX_LOG2 = 35
BUCKETS = (MAX_LOG2 - SUB_BITS + 2) * SUB


def bucket_of(value_ns: int) -> int:
    """The bucket ``value_ns`` falls into, exactly as the sink computes it."""
    if value_ns < 0:
        raise ValueError(f"latencies are not negative, got {value_ns}")
    if value_ns < SUB:
        return value_ns
    m = value_ns.bit_length() - 1
    if m > MAX_LOG2:
        return BUCKETS - 1
    shift = m - SUB_BITS
    return (shift + 1) * SUB + ((value_ns >> shift) & (SUB - 1))


def bucket_range(bucket: int) -> tuple[int, int]:
    """The values [low, high) of ``bucket`` (the last one's high is where clamping starts)."""
    if not 0 <= bucket < BUCKETS:
        raise ValueError(f"bucket {bucket} out of range [0, {BUCKETS})")
    if bucket < SUB:
        return bucket, bucket + 1
    shift = bucket // SUB - 1
    low = (SUB + bucket % SUB) << shift
    return low, low + (1 << shift)


@dataclass(frozen=True)
class Histogram:
    counts: tuple[int, ...]
    """Samples per bucket, BUCKETS long."""

    def __post_init__(self) -> None:
        if len(self.counts) != BUCKETS:
            raise ValueError(f"a histogram has {BUCKETS} buckets, got {len(self.counts)}")

    @classmethod
    def empty(cls) -> Histogram:
        return cls((0,) * BUCKETS)

    @classmethod
    def of(cls, values_ns: Iterable[int]) -> Histogram:
        counts = [0] * BUCKETS
        for v in values_ns:
            counts[bucket_of(v)] += 1
        return cls(tuple(counts))

    @classmethod
    def merged(cls, parts: Sequence[Histogram]) -> Histogram:
        return cls(tuple(sum(c) for c in zip(*(p.counts for p in parts), strict=True)))

    @property
    def total(self) -> int:
        return sum(self.counts)

    def percentile_bucket(self, p: float) -> int:
        """The bucket holding the sample of rank ceil(p / 100 * total) (nearest rank)."""
        if not 0 < p <= 100:
            raise ValueError(f"a percentile is in (0, 100], got {p}")
        total = self.total
        if total == 0:
            raise ValueError("no samples: the histogram is empty")
        rank = max(1, math.ceil(p / 100 * total))
        seen = 0
        for bucket, count in enumerate(self.counts):
            seen += count
            if seen >= rank:
                return bucket
        raise AssertionError("unreachable: rank exceeds the total")

    def percentile(self, p: float) -> int:
        """The highest value of the percentile's bucket (HDR's "highest equivalent value"): never
        below the true percentile, above it by less than one bucket width."""
        return bucket_range(self.percentile_bucket(p))[1] - 1

    def summary(self, percentiles: Sequence[float] = (50, 90, 99, 99.9)) -> dict[str, int]:
        """Sample count and percentiles in ns, for reports (empty histograms: count only)."""
        out = {"count": self.total}
        if self.total:
            out.update({f"p{p:g}": self.percentile(p) for p in percentiles})
        return out
