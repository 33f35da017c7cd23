"""Fixed-size records declared once, from which both the C struct and the Python views come.

A record is a dataclass whose fields are annotated with a C type (``U8`` … ``U64``, or
``Bytes[n]`` for a byte array)::

    class FlowStatsRecord(Record, c_name="flow_stats"):
        packets: U64 = 0
        bytes: U64 = 0

From that one definition come the Python value (a mutable dataclass with ``to_bytes`` /
``from_bytes``), a ctypes ``Structure`` with the same layout (``ctype()``), the C text of the
struct (``c_struct()``, held equal to ``ebpf/include/structs.h`` by a test) and the ``struct``
format that packs it. Layout follows the C rules for these types on the BPF target: each
field aligned to its own size, the struct padded at the end to its largest alignment (zero
bytes in ``to_bytes``). A gap between fields is refused: declare it as a pad field, so the C
and Python sides agree byte for byte.
"""

from __future__ import annotations

import ctypes as ct
import dataclasses
import struct
import typing
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Self, dataclass_transform


@dataclass(frozen=True)
class CType:
    """One field's C type: its name in C, its ``struct`` code, its ctypes type, its count."""

    c_name: str
    code: str
    ctype: Any
    count: int = 1

    @property
    def size(self) -> int:
        return struct.calcsize("<" + self.code) * self.count

    @property
    def align(self) -> int:
        return struct.calcsize("<" + self.code)


U8 = Annotated[int, CType("__u8", "B", ct.c_uint8)]
U16 = Annotated[int, CType("__u16", "H", ct.c_uint16)]
U32 = Annotated[int, CType("__u32", "I", ct.c_uint32)]
U64 = Annotated[int, CType("__u64", "Q", ct.c_uint64)]


def byte_array(count: int) -> CType:
    """The metadata of a ``__u8 name[count]`` field: ``Annotated[bytes, byte_array(6)]``."""
    if count < 1:
        raise ValueError(f"a byte array needs at least one byte, got {count}")
    return CType("__u8", "B", ct.c_uint8, count)


Mac = Annotated[bytes, byte_array(6)]


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: CType
    offset: int


@dataclass(frozen=True)
class Layout:
    """Where each field sits; ``fmt`` packs the values in field order (arrays as bytes)."""

    fields: tuple[FieldSpec, ...]
    size: int
    fmt: str

    def c_struct(self, c_name: str) -> str:
        lines = [f"struct {c_name} {{"]
        for f in self.fields:
            suffix = f"[{f.kind.count}]" if f.kind.count > 1 else ""
            lines.append(f"    {f.kind.c_name} {f.name}{suffix};")
        lines.append("};")
        return "\n".join(lines)


def _layout(cls: type) -> Layout:
    hints = typing.get_type_hints(cls, include_extras=True)
    specs: list[FieldSpec] = []
    fmt = "<"
    offset = 0
    widest = 1
    for f in dataclasses.fields(cls):
        meta = [m for m in getattr(hints[f.name], "__metadata__", ()) if isinstance(m, CType)]
        if len(meta) != 1:
            raise TypeError(f"{cls.__name__}.{f.name}: annotate it with one C type "
                            f"(U8, U16, U32, U64 or Annotated[bytes, byte_array(n)]), "
                            f"got {hints[f.name]!r}")
        kind = meta[0]
        if offset % kind.align:
            raise TypeError(f"{cls.__name__}.{f.name}: at offset {offset} it is not aligned to "
                            f"{kind.align}; add an explicit pad field before it")
        specs.append(FieldSpec(f.name, kind, offset))
        fmt += f"{kind.count}s" if kind.count > 1 else kind.code
        offset += kind.size
        widest = max(widest, kind.align)
    tail = -offset % widest
    if tail:
        fmt += f"{tail}x"
    return Layout(tuple(specs), offset + tail, fmt)


@dataclass_transform()
class Record:
    """Base of records: subclasses become dataclasses with a C layout (see the module doc)."""

    C_NAME: ClassVar[str]
    LAYOUT: ClassVar[Layout]
    _STRUCT: ClassVar[struct.Struct]
    _CTYPE: ClassVar[type[ct.Structure]]
    _FIELD_CODECS: ClassVar[dict[str, tuple[int, struct.Struct]]]

    def __init_subclass__(cls, c_name: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclass(cls)
        cls.C_NAME = c_name
        cls.LAYOUT = _layout(cls)
        cls._STRUCT = struct.Struct(cls.LAYOUT.fmt)
        cls._CTYPE = type(cls.__name__ + "C", (ct.Structure,), {"_fields_": cls.ctypes_fields()})
        cls._FIELD_CODECS = {
            f.name: (f.offset, struct.Struct("<" + (f"{f.kind.count}s" if f.kind.count > 1
                                                    else f.kind.code)))
            for f in cls.LAYOUT.fields}
        for f in cls.LAYOUT.fields:
            if f.kind.count > 1 and getattr(cls, f.name, None) is None:
                raise TypeError(f"{cls.__name__}.{f.name}: give a default of "
                                f"bytes({f.kind.count})")

    def to_bytes(self) -> bytes:
        values = []
        for f in self.LAYOUT.fields:
            value = getattr(self, f.name)
            if f.kind.count > 1 and len(value) != f.kind.count:
                raise ValueError(f"{type(self).__name__}.{f.name} must be {f.kind.count} "
                                 f"bytes, got {len(value)}: {bytes(value).hex()}")
            values.append(value)
        try:
            return self._STRUCT.pack(*values)
        except struct.error as exc:
            raise ValueError(f"{self!r} does not fit {self.C_NAME}: {exc}") from None

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        if len(data) != cls.LAYOUT.size:
            raise ValueError(f"{cls.__name__} is {cls.LAYOUT.size} bytes, got {len(data)}: "
                             f"{bytes(data[:64]).hex()}")
        return cls(*cls._STRUCT.unpack(data))

    @classmethod
    def size(cls) -> int:
        return cls.LAYOUT.size

    @classmethod
    def c_struct(cls) -> str:
        """The C declaration, as it must appear in ``ebpf/include/structs.h``."""
        return cls.LAYOUT.c_struct(cls.C_NAME)

    @classmethod
    def ctypes_fields(cls) -> list[tuple[str, Any]]:
        """``_fields_`` of the ctypes mirror."""
        return [(f.name, f.kind.ctype * f.kind.count if f.kind.count > 1 else f.kind.ctype)
                for f in cls.LAYOUT.fields]

    @classmethod
    def ctype(cls) -> type[ct.Structure]:
        """A ctypes Structure with this record's layout (the same class on every call)."""
        return cls._CTYPE

    @classmethod
    def field_offset(cls, name: str) -> tuple[int, struct.Struct]:
        """Where field ``name`` sits and how to pack it alone."""
        try:
            return cls._FIELD_CODECS[name]
        except KeyError:
            raise AttributeError(f"{cls.__name__} has no field {name!r}; it has "
                                 f"{list(cls._FIELD_CODECS)}") from None
