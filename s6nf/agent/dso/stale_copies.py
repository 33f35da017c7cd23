"""Copies a holder has replaced and must still delete at the backups that keep them.

When an object's backup changes (a key space changed the backup ring, or an object came back
by a grant or a push), the holder sends the object to its new backup and deletes the old
copy only once the new backup has acknowledged it. Deleting first and copying second lost
objects: a holder SIGKILLed between the two messages (which travel on different streams,
and a killed process's socket may send one and drop the other) left no copy anywhere, and the
instance that took over its buckets made the object anew (a NAT flow got a second public
port). Until then the old backup keeps a copy that is merely older, which a takeover of a
dead holder never prefers over the new one: the new backup is the one its buckets go to.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable


class StaleCopies:
    """Per key of one map: the instances that keep an outdated copy of it."""

    def __init__(self) -> None:
        self._at: dict[bytes, set[int]] = {}

    def __contains__(self, key: bytes) -> bool:
        return key in self._at

    def __len__(self) -> int:
        return len(self._at)

    def pending(self) -> list[bytes]:
        """Keys with copies still to delete."""
        return list(self._at)

    def add(self, key: bytes, backup: int) -> None:
        """``backup`` keeps a copy of ``key`` that a newer one replaces."""
        self._at.setdefault(key, set()).add(backup)

    def take(self, key: bytes, keep: int | None, alive: Collection[int]) -> list[int]:
        """The instances whose copy of ``key`` must be deleted now that ``keep`` acknowledged
        the current one (None: the object is gone, every copy goes); dead instances' copies
        went with them."""
        old = self._at.pop(key, set())
        return sorted(b for b in old if b != keep and b in alive)

    def forget(self, keys: Iterable[bytes]) -> None:
        for key in keys:
            self._at.pop(key, None)

    def clear(self) -> None:
        self._at.clear()
