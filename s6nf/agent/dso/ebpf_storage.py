"""SingleWriter storage in an eBPF hash map: the fast path's own per-flow entries are the
DSO's objects, and they move between agents as raw record bytes.

The map's key is the canonical key zero-padded to the C key struct (13 → 16 bytes for
``struct flow_key``); its value is a ``Record``'s C struct. Handing over is the kernel's
lookup-and-delete, so an entry is in this map or in the bytes on their way, never both.

``get`` returns a *live view*: a ``Record`` whose field reads look the entry up, and whose
field writes read the entry, change that one field and write it back (``BPF_EXIST``). The
datapath updates entries in place meanwhile (atomic adds); a Python write that lands between
another CPU's lookup and its add can lose that add, so NF code should write fields the
datapath does not (or accept the window of one map update).
"""

from __future__ import annotations

import errno
import os
import struct
from collections.abc import Iterable, Sequence
from typing import Any, Generic, TypeVar

from s6nf.agent import libbpf
from s6nf.agent.bpfmap import NO_BATCH, BpfMap, RawMap
from s6nf.agent.dso.errors import StorageFull
from s6nf.agent.records import Record
from s6nf.keys import CANONICAL_KEY_LEN

R = TypeVar("R", bound=Record)
_FULL = {errno.E2BIG, errno.ENOSPC, errno.ENOMEM}
"""What a hash map answers when it has no free element (E2BIG for preallocated maps)."""


class EbpfStorage(Generic[R]):
    """One map's objects held at this agent, as entries of a BPF hash map (see module doc).

    Args:
        table: the map (its value size must be the record's); the caller keeps it open.
        record: the record type of the values.
        key_len: canonical key length; the map's key is this many bytes plus zero padding.
        ready_field: a one-byte field the kernel sets when the entry may be used on the fast
            path (docs/punt-design.md); entries arriving here (``put``, ``import_``) have it
            cleared, so the kernel re-checks its punt state before using them.
        own_keys: the kernel never adds or removes this map's entries (it only updates
            them), so the set of keys is kept in Python and ``get`` needs no lookup: for maps
            whose entries only the agent installs (the NAT's). Read from the map once here.
    """

    def __init__(self, table: BpfMap[Any, Any], record: type[R],
                 key_len: int = CANONICAL_KEY_LEN, ready_field: str | None = None,
                 own_keys: bool = False) -> None:
        self.raw = RawMap(table)
        if self.raw.value_size != record.size():
            raise ValueError(f"map {table.name}: values are {self.raw.value_size} bytes, record "
                             f"{record.__name__} ({record.C_NAME}) is {record.size()}")
        if not 0 < key_len <= self.raw.key_size:
            raise ValueError(f"map {table.name}: canonical keys of {key_len} bytes do not fit "
                             f"its {self.raw.key_size}-byte key")
        self.name = table.name
        self.record = record
        self.key_len = key_len
        self._pad = bytes(self.raw.key_size - key_len)
        self._live = _live_class(record)
        self._default = record().to_bytes()
        self._ready_at = -1
        self._keys: set[bytes] | None = set(self.raw.keys(key_len)) if own_keys else None
        self.changes: set[bytes] | None = None
        """Canonical keys this storage wrote or deleted since ``take_changes`` (None: not
        kept). The kernel's own updates are not in it: replication sweeps the map for those."""
        if ready_field is not None:
            offset, codec = record.field_offset(ready_field)
            if codec.size != 1:
                raise ValueError(f"{record.__name__}.{ready_field}: a ready field is one byte")
            self._ready_at = offset

    def track_changes(self) -> None:
        """Keep ``changes`` from now on."""
        if self.changes is None:
            self.changes = set()

    def take_changes(self) -> set[bytes]:
        """The keys written or deleted here since the last call (empty when not tracked)."""
        taken = self.changes
        if taken is None:
            return set()
        self.changes = set()
        return taken

    def _map_key(self, key: bytes) -> bytes:
        if len(key) != self.key_len:
            raise ValueError(f"{self.name}: keys are {self.key_len} canonical bytes, got "
                             f"{len(key)}: {key.hex()}")
        return key + self._pad

    def _check_value(self, key: bytes, data: bytes) -> bytes:
        if len(data) != self.raw.value_size:
            raise ValueError(f"{self.name}[{key.hex()}]: a {self.record.C_NAME} is "
                             f"{self.raw.value_size} bytes, got {len(data)}")
        at = self._ready_at
        if at >= 0 and data[at]:
            data = data[:at] + b"\0" + data[at + 1:]
        return data

    def _full(self, exc: libbpf.BpfError, what: str) -> StorageFull:
        return StorageFull(f"{self.name}: no room for {what} (max_entries "
                           f"{self.raw.table.max_entries}): {exc.strerror}")

    def view(self, key: bytes) -> R:
        """A live view of ``key``'s entry, without checking that it exists."""
        view = object.__new__(self._live)
        object.__setattr__(view, "_entry", (self, self._map_key(key)))
        return view

    def _entry_bytes(self, map_key: bytes) -> bytes:
        data = self.raw.lookup(map_key)
        if data is None:
            raise KeyError(f"{self.name}[{map_key[:self.key_len].hex()}]: the entry is gone "
                           "(handed over or deleted); keep no view past its access")
        return data

    def _write_field(self, map_key: bytes, name: str, value: Any) -> None:
        offset, codec = self.record.field_offset(name)
        data = bytearray(self._entry_bytes(map_key))
        try:
            codec.pack_into(data, offset, value)
        except struct.error as exc:
            raise ValueError(f"{self.record.__name__}.{name} = {value!r}: {exc}") from None
        try:
            self.raw.update(map_key, bytes(data), libbpf.BPF_EXIST)
        except libbpf.BpfError as exc:
            if exc.errno == errno.ENOENT:
                raise KeyError(f"{self.name}[{map_key[:self.key_len].hex()}]: the entry is "
                               f"gone; {name} not written") from None
            raise
        if self.changes is not None:
            self.changes.add(map_key[:self.key_len])

    def get(self, key: bytes) -> R | None:
        if self._keys is not None:
            if key not in self._keys:
                return None
        elif self.raw.lookup(self._map_key(key)) is None:
            return None
        return self.view(key)

    def read(self, key: bytes) -> R | None:
        """A plain copy of ``key``'s record (not live), or None."""
        data = self.raw.lookup(self._map_key(key))
        return None if data is None else self.record.from_bytes(data)

    def create(self, key: bytes) -> R:
        """Insert a default record; an entry the datapath made meanwhile is kept as it is."""
        try:
            self.raw.update(self._map_key(key), self._default, libbpf.BPF_NOEXIST)
        except libbpf.BpfError as exc:
            if exc.errno in _FULL:
                raise self._full(exc, f"new key {key.hex()}") from None
            if exc.errno != errno.EEXIST:
                raise
        if self._keys is not None:
            self._keys.add(key)
        if self.changes is not None:
            self.changes.add(key)
        return self.view(key)

    def take(self, key: bytes) -> bytes | None:
        got = self.raw.pop_each([self._map_key(key)])
        if self._keys is not None:
            self._keys.discard(key)
        if self.changes is not None:
            self.changes.add(key)
        return got[0][1] if got else None

    def put(self, key: bytes, data: bytes) -> None:
        try:
            self.raw.update(self._map_key(key), self._check_value(key, data))
        except libbpf.BpfError as exc:
            if exc.errno in _FULL:
                raise self._full(exc, f"key {key.hex()}") from None
            raise
        if self._keys is not None:
            self._keys.add(key)
        if self.changes is not None:
            self.changes.add(key)

    def delete(self, key: bytes) -> bool:
        if self._keys is not None:
            self._keys.discard(key)
        if self.changes is not None:
            self.changes.add(key)
        return self.raw.delete(self._map_key(key))

    def snapshot(self) -> list[bytes]:
        if self._keys is not None:
            return list(self._keys)
        return self.raw.keys(self.key_len)

    def items(self) -> list[tuple[bytes, R]]:
        """Every (canonical key, record copy), from one pass of batch lookups."""
        n, decode = self.key_len, self.record.from_bytes
        return [(k[:n], decode(v)) for k, v in self.raw.items()]

    def export(self, keys: Sequence[bytes]) -> list[tuple[bytes, bytes]]:
        """Lookup-and-delete each key (absent ones skipped), one kernel step per key.

        BPF_MAP_LOOKUP_AND_DELETE_BATCH is not used: on hash maps it drains whole buckets in
        map order from a cursor and cannot be given a set of keys.
        """
        pad = self._pad
        for key in keys:
            if len(key) != self.key_len:
                self._map_key(key)
        taken = self.raw.pop_each([key + pad for key in keys])
        if self._keys is not None:
            self._keys.difference_update(keys)
        if self.changes is not None:
            self.changes.update(keys)
        n = self.key_len
        return [(k[:n], v) for k, v in taken]

    def import_(self, entries: Iterable[tuple[bytes, bytes]]) -> None:
        """Store entries with BPF_MAP_UPDATE_BATCH, replacing present copies; all or nothing.

        On a full map the entries this call wrote are deleted again and ``StorageFull`` says
        how many fitted. A key the call had replaced is deleted too: import only keys not held
        here, as the runtime does (it checks ``get`` first). The kernel's batch update takes
        no BPF_NOEXIST, so telling replaced keys apart would cost a lookup per entry.
        """
        entries_list = list(entries)
        pairs = [(self._map_key(k), self._check_value(k, d)) for k, d in entries_list]
        if self.changes is not None:
            self.changes.update(k for k, _ in entries_list)
        keys = b"".join(k for k, _ in pairs)
        values = b"".join(v for _, v in pairs)
        ks, vs = self.raw.key_size, self.raw.value_size
        written = 0
        while written < len(pairs):
            done, err = self.raw.update_batch(keys[written * ks:], values[written * vs:],
                                              libbpf.BPF_ANY)
            if err in NO_BATCH and written == 0:
                self._import_one_by_one(pairs)
                if self._keys is not None:
                    self._keys.update(k for k, _ in entries_list)
                return
            written += done
            if err == 0:
                if self._keys is not None:
                    self._keys.update(k for k, _ in entries_list)
                return
            self._roll_back(pairs[:written])
            exc = libbpf.BpfError(err, f"batch update in {self.name}: {os.strerror(err)}")
            if err in _FULL:
                raise self._full(exc, f"{len(pairs)} imported entries ({written} fitted; "
                                      f"none kept)")
            raise exc

    def _import_one_by_one(self, pairs: list[tuple[bytes, bytes]]) -> None:
        """``import_`` for kernels without batch updates."""
        for i, (key, value) in enumerate(pairs):
            try:
                self.raw.update(key, value)
            except libbpf.BpfError as exc:
                self._roll_back(pairs[:i])
                if exc.errno in _FULL:
                    raise self._full(exc, f"{len(pairs)} imported entries ({i} fitted; "
                                          f"none kept)") from None
                raise

    def _roll_back(self, written: list[tuple[bytes, bytes]]) -> None:
        for key, _ in written:
            self.raw.delete(key)

    def __len__(self) -> int:
        if self._keys is not None:
            return len(self._keys)
        return len(self.raw.keys())


class RecordCodec(Generic[R]):
    """Records as their C bytes, for a map kept in Python (``PyStorage``): the same wire
    form as ``EbpfStorage``, so the two kinds of storage can be compared or swapped."""

    def __init__(self, record: type[R]) -> None:
        self.record = record

    def to_bytes(self, value: R) -> bytes:
        return value.to_bytes()

    def from_bytes(self, data: bytes) -> R:
        return self.record.from_bytes(data)


def _live_class(record: type[R]) -> type[R]:
    """A subclass of ``record`` whose fields read and write the map entry."""
    cached: type[R] | None = record.__dict__.get("_LIVE")
    if cached is not None:
        return cached
    names = frozenset(f.name for f in record.LAYOUT.fields)

    def __getattribute__(self: Any, name: str) -> Any:
        if name in names:
            storage, key = object.__getattribute__(self, "_entry")
            offset, codec = storage.record.field_offset(name)
            return codec.unpack_from(storage._entry_bytes(key), offset)[0]
        return object.__getattribute__(self, name)

    def __setattr__(self: Any, name: str, value: Any) -> None:
        if name not in names:
            raise AttributeError(f"{record.__name__} has no field {name!r}")
        storage, key = object.__getattribute__(self, "_entry")
        storage._write_field(key, name, value)

    def to_bytes(self: Any) -> bytes:
        storage, key = object.__getattribute__(self, "_entry")
        data: bytes = storage._entry_bytes(key)
        return data

    def __eq__(self: Any, other: object) -> bool:
        if not isinstance(other, record):
            return NotImplemented
        return bool(self.to_bytes() == other.to_bytes())

    live = type(f"Live{record.__name__}", (record,),
                {"__getattribute__": __getattribute__, "__setattr__": __setattr__,
                 "to_bytes": to_bytes, "__eq__": __eq__, "__hash__": None,
                 "__module__": record.__module__},
                c_name=record.C_NAME)
    type.__setattr__(record, "_LIVE", live)
    return live
