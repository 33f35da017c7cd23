"""Where each object's backup lives, and who takes over a dead instance's buckets.

The buckets form a ring in a fixed pseudo-random order (sorted by the CRC-32 of the bucket
number), the same for every agent and the controller. The backup of an object held at
instance ``h`` with key ``k`` is:

- the key's home, ``owners[bucket(k)]``, when ``h`` is not the home (an object held away
  from home is backed up at home);
- otherwise the owner of the first bucket after ``bucket(k)`` on the ring that ``h`` does
  not own.

When ``h`` dies, each of its buckets goes to the first owner after it on the ring that is
alive: for a single failure that is exactly where the bucket's objects were backed up, so
the new owners already hold copies of everything homed in their new buckets. The random
ring order spreads a dead instance's buckets over all survivors even when the key space is
dealt round-robin.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import lru_cache
from zlib import crc32

from s6nf.keys import bucket_of_bytes
from s6nf.keyspace import KeySpace


@lru_cache(maxsize=8)
def ring_order(buckets: int) -> tuple[int, ...]:
    """Every bucket once, in ring order."""
    return tuple(sorted(range(buckets), key=lambda b: (crc32(b.to_bytes(4, "big")), b)))


class BackupRing:
    """The backups of one key space (precomputed: two array reads per key)."""

    def __init__(self, key_space: KeySpace) -> None:
        self.key_space = key_space
        owners = key_space.owners
        order = ring_order(key_space.buckets)
        n = len(order)
        nxt: list[int | None] = [None] * key_space.buckets
        if len(key_space.instances) > 1:
            following: int | None = None
            for step in range(2 * n - 1, -1, -1):
                bucket = order[step % n]
                after = order[(step + 1) % n]
                if owners[after] != owners[bucket]:
                    following = owners[after]
                nxt[bucket] = following
        self._next_other = nxt

    def backup_of(self, holder: int, key: bytes) -> int | None:
        """The instance that keeps the backup of ``key`` held at ``holder`` (None: alone)."""
        bucket = bucket_of_bytes(key, self.key_space.buckets)
        home = self.key_space.owners[bucket]
        if home != holder:
            return home
        return self._next_other[bucket]


def failover_key_space(key_space: KeySpace, dead: Collection[int], epoch: int) -> KeySpace:
    """``key_space`` with every bucket of a ``dead`` instance given to the first live owner
    after it on the ring (its backup, for a single failure), as epoch ``epoch``."""
    owners = key_space.owners
    alive = key_space.instances - set(dead)
    if not alive:
        raise ValueError(f"every instance of epoch {key_space.epoch} is dead ({sorted(dead)}): "
                         "there is nobody to take over")
    if epoch <= key_space.epoch:
        raise ValueError(f"failover epoch {epoch} must follow {key_space.epoch}")
    order = ring_order(key_space.buckets)
    n = len(order)
    new = list(owners)
    heir: int | None = None
    for step in range(2 * n - 1, -1, -1):
        bucket = order[step % n]
        after = order[(step + 1) % n]
        if owners[after] in alive:
            heir = owners[after]
        if step < n and owners[bucket] not in alive:
            assert heir is not None
            new[bucket] = heir
    return KeySpace(epoch, tuple(new))
