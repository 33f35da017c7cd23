"""A BPF map seen through ctypes key/value types: single and batch operations, per-CPU values.

Batch operations are used where the kernel has them (5.6+ for hash and array maps); per-CPU
maps return one value per possible CPU.
"""

from __future__ import annotations

import ctypes as ct
import errno
import os
from collections.abc import Iterable, Iterator
from typing import Any, Generic, TypeVar, cast

from s6nf.agent import libbpf

K = TypeVar("K", bound=ct.Structure | ct.c_uint32 | ct.c_uint64)
V = TypeVar("V", bound=ct.Structure | ct.c_uint32 | ct.c_uint64)

BPF_MAP_TYPE_PERCPU_HASH = 5
BPF_MAP_TYPE_PERCPU_ARRAY = 6
_PERCPU = {BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_PERCPU_ARRAY}
BATCH_CHUNK = 4096
NO_BATCH = frozenset({errno.EINVAL, errno.ENOTSUP, 524})
"""What a kernel without batch map operations answers (524 is the kernel's ENOTSUPP)."""


class BpfMap(Generic[K, V]):
    """Owns an fd to one map; checks that the C sizes match the Python mirrors on open."""

    def __init__(self, fd: int, key_type: type[K], value_type: type[V], name: str = "") -> None:
        info = libbpf.map_info(fd)
        self.name = name or info.name.decode()
        if info.key_size != ct.sizeof(key_type) or info.value_size != ct.sizeof(value_type):
            os.close(fd)
            raise ValueError(
                f"map {self.name}: kernel has key/value sizes {info.key_size}/{info.value_size}, "
                f"the Python mirror {key_type.__name__}/{value_type.__name__} has "
                f"{ct.sizeof(key_type)}/{ct.sizeof(value_type)}; reload the program"
            )
        self.fd = fd
        self.key_type = key_type
        self.value_type = value_type
        self.max_entries: int = int(info.max_entries)
        self.percpu = info.type in _PERCPU
        self.ncpus = libbpf.possible_cpus() if self.percpu else 1
        self._slot = (ct.sizeof(value_type) + 7) // 8 * 8 if self.percpu else ct.sizeof(value_type)

    @classmethod
    def pinned(cls, path: str, key_type: type[K], value_type: type[V]) -> BpfMap[K, V]:
        return cls(libbpf.obj_get(path), key_type, value_type, os.path.basename(path))

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> BpfMap[K, V]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _values_buffer(self, count: int = 1) -> ct.Array[ct.c_char]:
        return ct.create_string_buffer(self._slot * self.ncpus * count)

    def _split(self, raw: bytes) -> list[V]:
        size = ct.sizeof(self.value_type)
        return [cast(V, self.value_type.from_buffer_copy(raw[i * self._slot:i * self._slot + size]))
                for i in range(self.ncpus)]

    def lookup_percpu(self, key: K) -> list[V] | None:
        buf = self._values_buffer()
        ret = libbpf.lib().bpf_map_lookup_elem(self.fd, ct.byref(key), buf)
        if ret < 0 and ct.get_errno() == errno.ENOENT:
            return None
        libbpf.check(ret, f"lookup in {self.name}")
        return self._split(buf.raw)

    def lookup(self, key: K) -> V | None:
        values = self.lookup_percpu(key)
        return None if values is None else values[0]

    def update(self, key: K, value: V, flags: int = libbpf.BPF_ANY) -> None:
        if self.percpu:
            buf = self._values_buffer()
            for cpu in range(self.ncpus):
                ct.memmove(ct.addressof(buf) + cpu * self._slot, ct.byref(value), ct.sizeof(value))
            ret = libbpf.lib().bpf_map_update_elem(self.fd, ct.byref(key), buf, flags)
        else:
            ret = libbpf.lib().bpf_map_update_elem(self.fd, ct.byref(key), ct.byref(value), flags)
        libbpf.check(ret, f"update in {self.name}")

    def delete(self, key: K) -> bool:
        """Delete ``key``; False when it was not there."""
        ret = libbpf.lib().bpf_map_delete_elem(self.fd, ct.byref(key))
        if ret < 0 and ct.get_errno() == errno.ENOENT:
            return False
        libbpf.check(ret, f"delete in {self.name}")
        return True

    def pop(self, key: K) -> V | None:
        """Read and delete ``key`` in one kernel step (hash maps); None when absent."""
        value = self.value_type()
        ret = libbpf.lib().bpf_map_lookup_and_delete_elem(self.fd, ct.byref(key), ct.byref(value))
        if ret < 0 and ct.get_errno() == errno.ENOENT:
            return None
        libbpf.check(ret, f"lookup-and-delete in {self.name}")
        return value

    def keys(self) -> Iterator[K]:
        prev: K | None = None
        while True:
            nxt = self.key_type()
            ret = libbpf.lib().bpf_map_get_next_key(
                self.fd, None if prev is None else ct.byref(prev), ct.byref(nxt))
            if ret < 0 and ct.get_errno() == errno.ENOENT:
                return
            libbpf.check(ret, f"iterate {self.name}")
            yield nxt
            prev = nxt

    def _batch(self, delete: bool) -> list[tuple[K, list[V]]]:
        bpf = libbpf.lib()
        fn = bpf.bpf_map_lookup_and_delete_batch if delete else bpf.bpf_map_lookup_batch
        chunk = max(1, min(BATCH_CHUNK, self.max_entries))
        keys = (self.key_type * chunk)()
        values = self._values_buffer(chunk)
        out_batch = ct.c_uint64(0)
        in_batch: ct.c_uint64 | None = None
        opts = libbpf.batch_opts()
        result: list[tuple[K, list[V]]] = []
        per_elem = self._slot * self.ncpus
        while True:
            count = ct.c_uint32(chunk)
            ret = fn(self.fd, None if in_batch is None else ct.byref(in_batch), ct.byref(out_batch),
                     keys, values, ct.byref(count), ct.byref(opts))
            err = ct.get_errno() if ret < 0 else 0
            raw, raw_keys, ksize = values.raw, bytes(keys), ct.sizeof(self.key_type)
            for i in range(count.value):
                key = cast(K, self.key_type.from_buffer_copy(raw_keys[i * ksize:(i + 1) * ksize]))
                result.append((key,
                               self._split(raw[i * per_elem:(i + 1) * per_elem])))
            if ret < 0 and err == errno.ENOENT:
                return result
            if ret < 0 and err in NO_BATCH and in_batch is None:
                return self._one_by_one(delete)
            libbpf.check(ret, f"batch {'lookup-and-delete' if delete else 'lookup'} in {self.name}")
            in_batch = ct.c_uint64(out_batch.value)

    def _one_by_one(self, delete: bool) -> list[tuple[K, list[V]]]:
        """The batch calls' result, element by element, for kernels without them."""
        out: list[tuple[K, list[V]]] = []
        for key in list(self.keys()):
            values = self.lookup_percpu(key)
            if values is not None and (not delete or self.delete(key)):
                out.append((key, values))
        return out

    def items_percpu(self) -> list[tuple[K, list[V]]]:
        """Every entry, in one pass of batch lookups."""
        return self._batch(delete=False)

    def items(self) -> list[tuple[K, V]]:
        return [(k, v[0]) for k, v in self._batch(delete=False)]

    def pop_all(self) -> list[tuple[K, V]]:
        """Take every entry out of a hash map: each is deleted in the same step it is read."""
        return [(k, v[0]) for k, v in self._batch(delete=True)]

    def update_batch(self, entries: Iterable[tuple[K, V]], flags: int = libbpf.BPF_ANY) -> int:
        """Write entries in chunks of BATCH_CHUNK; returns how many were written."""
        pending = list(entries)
        size = ct.sizeof(self.value_type)
        for start in range(0, len(pending), BATCH_CHUNK):
            chunk = pending[start:start + BATCH_CHUNK]
            keys = _pack(k for k, _ in chunk)
            values = self._values_buffer(len(chunk))
            for i, (_, value) in enumerate(chunk):
                for cpu in range(self.ncpus):
                    offset = (i * self.ncpus + cpu) * self._slot
                    ct.memmove(ct.addressof(values) + offset, ct.byref(value), size)
            count = ct.c_uint32(len(chunk))
            opts = libbpf.batch_opts(flags)
            libbpf.check(libbpf.lib().bpf_map_update_batch(self.fd, keys, values, ct.byref(count),
                                                           ct.byref(opts)),
                         f"batch update in {self.name}")
        return len(pending)

    def delete_batch(self, keys: Iterable[K]) -> int:
        wanted = list(keys)
        for start in range(0, len(wanted), BATCH_CHUNK):
            chunk = wanted[start:start + BATCH_CHUNK]
            arr = _pack(chunk)
            count = ct.c_uint32(len(chunk))
            opts = libbpf.batch_opts()
            ret = libbpf.lib().bpf_map_delete_batch(self.fd, arr, ct.byref(count), ct.byref(opts))
            libbpf.check(ret, f"batch delete in {self.name}")
        return len(wanted)


class RawMap:
    """Byte-level access to a plain (not per-CPU) map: keys and values as ``bytes``.

    For callers that move many entries (the DSO's eBPF storage): no ctypes object per entry.
    Failures raise ``libbpf.BpfError``; an absent key is None or False, not an error.
    """

    def __init__(self, table: BpfMap[Any, Any]) -> None:
        if table.percpu:
            raise ValueError(f"map {table.name}: per-CPU maps have one value per CPU; RawMap "
                             "needs a plain hash or array map")
        self.table = table
        self.key_size = ct.sizeof(table.key_type)
        self.value_size = ct.sizeof(table.value_type)
        self._value = ct.create_string_buffer(self.value_size)

    def _check_key(self, key: bytes) -> None:
        """Keys go to the kernel as the bytes object's own buffer (it only reads them)."""
        if len(key) != self.key_size:
            raise ValueError(f"map {self.table.name}: keys are {self.key_size} bytes, got "
                             f"{len(key)}: {key.hex()}")

    def lookup(self, key: bytes) -> bytes | None:
        self._check_key(key)
        ret = libbpf.lib().bpf_map_lookup_elem(self.table.fd, key, self._value)
        if ret < 0 and ct.get_errno() == errno.ENOENT:
            return None
        libbpf.check(ret, f"lookup in {self.table.name}")
        return self._value.raw

    def update(self, key: bytes, value: bytes, flags: int = libbpf.BPF_ANY) -> None:
        self._check_key(key)
        if len(value) != self.value_size:
            raise ValueError(f"map {self.table.name}: values are {self.value_size} bytes, got "
                             f"{len(value)}")
        libbpf.check(libbpf.lib().bpf_map_update_elem(self.table.fd, key, value, flags),
                     f"update of key {key.hex()} in {self.table.name}")

    def delete(self, key: bytes) -> bool:
        self._check_key(key)
        ret = libbpf.lib().bpf_map_delete_elem(self.table.fd, key)
        if ret < 0 and ct.get_errno() == errno.ENOENT:
            return False
        libbpf.check(ret, f"delete of key {key.hex()} in {self.table.name}")
        return True

    def pop_each(self, keys: Iterable[bytes]) -> list[tuple[bytes, bytes]]:
        """Lookup-and-delete each key, one kernel step per key; absent keys are skipped.

        Each element is copied out and unlinked under its bucket's lock, so a concurrent
        lookup sees it either whole in the map or gone, never in two places.
        """
        fn = libbpf.lib().bpf_map_lookup_and_delete_elem
        fd, vbuf, size = self.table.fd, self._value, self.key_size
        out = []
        for key in keys:
            if len(key) != size:
                self._check_key(key)
            if fn(fd, key, vbuf) < 0:
                err = ct.get_errno()
                if err == errno.ENOENT:
                    continue
                raise libbpf.BpfError(err, f"lookup-and-delete of key {key.hex()} in "
                                           f"{self.table.name}: {os.strerror(err)}")
            out.append((key, vbuf.raw))
        return out

    def update_batch(self, keys: bytes, values: bytes, flags: int) -> tuple[int, int]:
        """One BPF_MAP_UPDATE_BATCH of concatenated keys and values.

        Returns (entries written, errno): the kernel stops at the first entry it refuses
        and reports how many it wrote before it; errno 0 means all were written. Batch
        updates take no BPF_NOEXIST/BPF_EXIST (the kernel answers EINVAL: nothing written).
        """
        count = len(keys) // self.key_size
        if len(keys) != count * self.key_size or len(values) != count * self.value_size:
            raise ValueError(f"map {self.table.name}: {len(keys)} key bytes and {len(values)} "
                             f"value bytes are not {count} whole entries")
        done = ct.c_uint32(count)
        opts = libbpf.batch_opts(flags)
        ret = libbpf.lib().bpf_map_update_batch(self.table.fd, keys, values, ct.byref(done),
                                                ct.byref(opts))
        err = -ret if ret < 0 else 0
        if err in NO_BATCH:
            return 0, err
        return (count if err == 0 else done.value), err

    def items(self) -> list[tuple[bytes, bytes]]:
        """Every entry, in one pass of batch lookups (element by element without them)."""
        ks, vs = self.key_size, self.value_size
        result: list[tuple[bytes, bytes]] = []
        for raw_keys, raw_values, count in self._lookup_batches():
            result.extend((raw_keys[i * ks:(i + 1) * ks], raw_values[i * vs:(i + 1) * vs])
                          for i in range(count))
        return result

    def keys(self, length: int | None = None) -> list[bytes]:
        """Every key (its first ``length`` bytes), in one pass of batch lookups."""
        ks = self.key_size
        n = ks if length is None else length
        result: list[bytes] = []
        for raw_keys, _, count in self._lookup_batches():
            result.extend(raw_keys[o:o + n] for o in range(0, count * ks, ks))
        return result

    def scan(self, cursor: int | None, limit: int) -> tuple[list[tuple[bytes, bytes]], int | None]:
        """Up to ``limit`` entries from ``cursor`` (None: the map's start) with one
        BPF_MAP_LOOKUP_BATCH, and the cursor to go on from (None: the map was read to its end).

        A hash map's cursor is a bucket index: an entry present from the first call to the
        last of a scan is returned exactly once, whatever was added or removed meanwhile.
        Without batch operations the whole map is read at once.
        """
        ks, vs = self.key_size, self.value_size
        count_max = max(1, min(limit, self.table.max_entries))
        while True:
            keys = ct.create_string_buffer(count_max * ks)
            values = ct.create_string_buffer(count_max * vs)
            out_batch = ct.c_uint64(0)
            in_batch = None if cursor is None else ct.c_uint64(cursor)
            count = ct.c_uint32(count_max)
            ret = libbpf.lib().bpf_map_lookup_batch(
                self.table.fd, None if in_batch is None else ct.byref(in_batch),
                ct.byref(out_batch), keys, values, ct.byref(count),
                ct.byref(libbpf.batch_opts()))
            err = ct.get_errno() if ret < 0 else 0
            if ret < 0 and err in NO_BATCH and cursor is None:
                return self.items(), None
            if ret < 0 and err == errno.ENOSPC and count.value == 0:
                count_max *= 2
                continue
            if ret < 0 and err != errno.ENOENT:
                libbpf.check(ret, f"batch lookup in {self.table.name}")
            raw_keys, raw_values, n = keys.raw, values.raw, count.value
            entries = [(raw_keys[i * ks:(i + 1) * ks], raw_values[i * vs:(i + 1) * vs])
                       for i in range(n)]
            return entries, (None if ret < 0 else out_batch.value)

    def _lookup_batches(self) -> Iterator[tuple[bytes, bytes, int]]:
        """(keys, values, count) per BPF_MAP_LOOKUP_BATCH call until the map is read."""
        bpf = libbpf.lib()
        chunk = max(1, min(BATCH_CHUNK, self.table.max_entries))
        keys = ct.create_string_buffer(chunk * self.key_size)
        values = ct.create_string_buffer(chunk * self.value_size)
        out_batch = ct.c_uint64(0)
        in_batch: ct.c_uint64 | None = None
        opts = libbpf.batch_opts()
        while True:
            count = ct.c_uint32(chunk)
            ret = bpf.bpf_map_lookup_batch(self.table.fd,
                                           None if in_batch is None else ct.byref(in_batch),
                                           ct.byref(out_batch), keys, values, ct.byref(count),
                                           ct.byref(opts))
            err = ct.get_errno() if ret < 0 else 0
            if ret < 0 and err in NO_BATCH and in_batch is None:
                pairs = [(bytes(k), bytes(v[0])) for k, v in self.table.items_percpu()]
                yield (b"".join(k for k, _ in pairs), b"".join(v for _, v in pairs), len(pairs))
                return
            if count.value:
                yield keys.raw, values.raw, count.value
            if ret < 0 and err == errno.ENOENT:
                return
            libbpf.check(ret, f"batch lookup in {self.table.name}")
            in_batch = ct.c_uint64(out_batch.value)


def _pack(items: Iterable[ct.Structure | ct.c_uint32 | ct.c_uint64]) -> ct.Array[ct.c_char]:
    """Contiguous copies of ctypes values, as the batch calls want their key arrays."""
    data = b"".join(bytes(item) for item in items)
    return ct.create_string_buffer(data, len(data))
