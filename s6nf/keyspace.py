"""The key space: bucket → instance for one epoch (DESIGN.md §2).

It is both the steering table and the DSO's home directory. ``rebalance`` computes the next
epoch's key space moving the fewest buckets that even load allows: every instance ends with
``B // n`` or ``B // n + 1`` buckets, and a bucket moves only if its owner left or holds more
than its share.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from s6nf.keys import DEFAULT_BUCKETS, bucket_of_bytes, check_buckets


@dataclass(frozen=True)
class KeySpace:
    """One epoch's assignment of every bucket to an instance id."""

    epoch: int
    """Increments by one on every scale event."""
    owners: tuple[int, ...]
    """``owners[b]`` is the instance that owns bucket ``b``; its length is the bucket count."""

    def __post_init__(self) -> None:
        check_buckets(len(self.owners))
        if self.epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {self.epoch}")

    @property
    def buckets(self) -> int:
        return len(self.owners)

    @property
    def instances(self) -> frozenset[int]:
        return frozenset(self.owners)

    def owner(self, bucket: int) -> int:
        return self.owners[bucket]

    def home(self, canonical_key: bytes) -> int:
        """The instance that is home of a key given by its canonical bytes."""
        return self.owners[bucket_of_bytes(canonical_key, self.buckets)]

    def load(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for inst in self.owners:
            counts[inst] = counts.get(inst, 0) + 1
        return counts

    def moved(self, other: KeySpace) -> list[int]:
        """Buckets whose owner differs between ``self`` and ``other``."""
        if other.buckets != self.buckets:
            raise ValueError(f"bucket counts differ: {self.buckets} vs {other.buckets}")
        return [b for b, (x, y) in enumerate(zip(self.owners, other.owners, strict=True)) if x != y]


def _check_instances(instances: Iterable[int]) -> list[int]:
    ids = sorted(set(instances))
    if not ids:
        raise ValueError("a key space needs at least one instance")
    if any(i < 0 for i in ids):
        raise ValueError(f"instance ids must be >= 0, got {ids}")
    return ids


def initial(instances: Iterable[int], buckets: int = DEFAULT_BUCKETS) -> KeySpace:
    """Epoch 0: buckets dealt round-robin over the sorted instance ids."""
    ids = _check_instances(instances)
    check_buckets(buckets)
    return KeySpace(0, tuple(ids[b % len(ids)] for b in range(buckets)))


def rebalance(current: KeySpace, instances: Iterable[int]) -> KeySpace:
    """Key space of the next epoch for ``instances``, moving as few buckets as even load allows."""
    ids = _check_instances(instances)
    n, total = len(ids), current.buckets
    base, extra = divmod(total, n)
    kept: dict[int, list[int]] = {i: [] for i in ids}
    orphans: list[int] = []
    for bucket, owner in enumerate(current.owners):
        kept.get(owner, orphans).append(bucket)
    # Instances that already hold the most keep the extra bucket, so fewer buckets move.
    by_size = sorted(ids, key=lambda i: (-len(kept[i]), i))
    quota = {inst: base + (1 if rank < extra else 0) for rank, inst in enumerate(by_size)}
    for inst in ids:
        surplus = kept[inst][quota[inst]:]
        del kept[inst][quota[inst]:]
        orphans.extend(surplus)
    owners = list(current.owners)
    orphans.sort()
    cursor = 0
    for inst in ids:
        need = quota[inst] - len(kept[inst])
        for bucket in orphans[cursor:cursor + need]:
            owners[bucket] = inst
        cursor += need
    return KeySpace(current.epoch + 1, tuple(owners))


def minimum_moves(current: KeySpace, instances: Sequence[int]) -> int:
    """The least number of buckets any even rebalance to ``instances`` must move."""
    ids = _check_instances(instances)
    base, extra = divmod(current.buckets, len(ids))
    load = current.load()
    held = sorted((load.get(i, 0) for i in ids), reverse=True)
    keep = sum(min(h, base + (1 if rank < extra else 0)) for rank, h in enumerate(held))
    return current.buckets - keep
