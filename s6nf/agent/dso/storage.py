"""Where an agent keeps the objects it holds: the pluggable storage interface.

The runtime never touches values except through ``Storage``. It hands objects over as bytes
(``take`` is lookup-and-delete, as a later eBPF storage does with
``bpf_map_lookup_and_delete_elem``) and moves them in batches (``export`` / ``import_``, the
batch map operations). ``PyStorage`` keeps Python objects in a dict; an eBPF storage keeps
fixed-size C structs in a BPF hash map and returns a ctypes view from ``get``.
"""

from __future__ import annotations

import marshal
import struct
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, Protocol, TypeVar

V = TypeVar("V")
V_co = TypeVar("V_co", covariant=True)


class Codec(Protocol[V]):
    def to_bytes(self, value: V) -> bytes: ...

    def from_bytes(self, data: bytes) -> V: ...


class Storage(Protocol[V_co]):
    """One map's objects held at this agent, keyed by canonical key bytes."""

    def get(self, key: bytes) -> V_co | None:
        """The live object (mutations are kept), or None if not held here."""

    def create(self, key: bytes) -> V_co:
        """Store and return a fresh default object for ``key``."""

    def take(self, key: bytes) -> bytes | None:
        """Lookup-and-delete: the object's bytes, or None if not held here."""

    def put(self, key: bytes, data: bytes) -> None:
        """Store an object received as bytes, replacing any copy."""

    def delete(self, key: bytes) -> bool: ...

    def snapshot(self) -> list[bytes]:
        """A snapshot of the held keys (safe to mutate the storage while iterating it)."""

    def export(self, keys: Sequence[bytes]) -> list[tuple[bytes, bytes]]:
        """Take a batch: lookup-and-delete each key held here, skipping absent ones."""

    def import_(self, entries: Iterable[tuple[bytes, bytes]]) -> None: ...

    def __len__(self) -> int: ...


class ObjectCodec(Generic[V]):
    """Plain objects as the marshalled ``__dict__``: no code in the NF, no pickle on the wire.

    Attribute values must be marshal-able (numbers, str, bytes, tuples, lists, dicts, sets).
    """

    def __init__(self, cls: type[V]) -> None:
        self.cls = cls

    def to_bytes(self, value: V) -> bytes:
        return marshal.dumps(vars(value))

    def from_bytes(self, data: bytes) -> V:
        state = marshal.loads(data)
        if not isinstance(state, dict):
            raise ValueError(f"{self.cls.__name__}: expected a marshalled dict, got {type(state)}")
        obj = self.cls.__new__(self.cls)
        obj.__dict__ = state
        return obj


class StructCodec:
    """Fixed-size records as tuples packed with a ``struct`` format (the eBPF value layout)."""

    def __init__(self, fmt: str) -> None:
        self.struct = struct.Struct(fmt)

    def to_bytes(self, value: list[Any]) -> bytes:
        return self.struct.pack(*value)

    def from_bytes(self, data: bytes) -> list[Any]:
        return list(self.struct.unpack(data))


class PyStorage(Generic[V]):
    """Objects as Python values in a dict."""

    def __init__(self, codec: Codec[V], factory: Callable[[], V]) -> None:
        self.codec = codec
        self.factory = factory
        self._objects: dict[bytes, V] = {}

    def get(self, key: bytes) -> V | None:
        return self._objects.get(key)

    def create(self, key: bytes) -> V:
        value = self._objects[key] = self.factory()
        return value

    def take(self, key: bytes) -> bytes | None:
        value = self._objects.pop(key, None)
        return None if value is None else self.codec.to_bytes(value)

    def put(self, key: bytes, data: bytes) -> None:
        self._objects[key] = self.codec.from_bytes(data)

    def delete(self, key: bytes) -> bool:
        return self._objects.pop(key, None) is not None

    def snapshot(self) -> list[bytes]:
        return list(self._objects)

    def export(self, keys: Sequence[bytes]) -> list[tuple[bytes, bytes]]:
        out = []
        for key in keys:
            data = self.take(key)
            if data is not None:
                out.append((key, data))
        return out

    def import_(self, entries: Iterable[tuple[bytes, bytes]]) -> None:
        """All or nothing: every entry is decoded before any is stored."""
        decode = self.codec.from_bytes
        self._objects.update([(key, decode(data)) for key, data in entries])

    def __len__(self) -> int:
        return len(self._objects)
