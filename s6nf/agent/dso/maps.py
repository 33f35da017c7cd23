"""How NF writers declare their state: maps with stable ids and per-method consistency.

A SingleWriter map holds objects owned by whoever accesses them; a MultiWriter map holds
plain-class objects that stay at their home, whose methods are declared *strict* (default),
``@untether`` or ``@stale(bound_s)``::

    class Counter:
        def __init__(self) -> None:
            self.n = 0

        @untether
        def add(self, k: int) -> None:
            self.n += k

        @stale(0.05)
        def read(self) -> int:
            return self.n

    COUNTERS = MwMap(7, "per_source", Counter)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Generic, TypeVar

from s6nf.agent.dso.errors import UnknownMap
from s6nf.agent.dso.storage import Codec, ObjectCodec, PyStorage, Storage

V = TypeVar("V")
F = TypeVar("F", bound=Callable[..., Any])

_ATTR = "__dso_consistency__"


class Replication(Enum):
    """How a map's objects reach their backup (docs/failover.md)."""

    ASYNC = "async"
    """In batches, at most the agent's ``replicate_interval_s`` behind."""
    SYNC = "sync"
    """Before the access block or the call that changed the object returns."""
    SYNC_FIRST = "sync-first"
    """SingleWriter maps: an object's first copy at its backup (made or fetched by the
    access, arrived by a push, or its backup changed) before the access block returns; the
    changes of later accesses to it like ``ASYNC``. For objects whose later changes a
    failover may lose (the NAT's counters) but not the object itself (its translation)."""


class Consistency(Enum):
    STRICT = "strict"
    UNTETHER = "untether"
    STALE = "stale"


def untether(method: F) -> F:
    """One-way call: batched per destination, FIFO per sender, no result."""
    setattr(method, _ATTR, (Consistency.UNTETHER, 0.0))
    return method


def strict(method: F) -> F:
    """Blocking call at the home, linearizable (the default; this only documents it)."""
    setattr(method, _ATTR, (Consistency.STRICT, 0.0))
    return method


def stale(bound_s: float) -> Callable[[F], F]:
    """Read answered from a local cache whose value is at most ``bound_s`` seconds old."""
    if bound_s < 0:
        raise ValueError(f"stale bound must be >= 0 seconds, got {bound_s}")

    def mark(method: F) -> F:
        setattr(method, _ATTR, (Consistency.STALE, float(bound_s)))
        return method

    return mark


@dataclass(frozen=True)
class MethodSpec:
    index: int
    name: str
    consistency: Consistency
    bound_s: float


def method_table(cls: type) -> tuple[MethodSpec, ...]:
    """The public methods of ``cls`` in name order; the index is the wire's method id."""
    names = sorted(n for n, v in vars(cls).items() if callable(v) and not n.startswith("_"))
    specs = []
    for index, name in enumerate(names):
        consistency, bound = getattr(vars(cls)[name], _ATTR, (Consistency.STRICT, 0.0))
        specs.append(MethodSpec(index, name, consistency, bound))
    return tuple(specs)


@dataclass(frozen=True)
class SwMap(Generic[V]):
    """A SingleWriter map: each object is owned by one agent at a time, the last accessor."""

    map_id: int
    """Stable across agents and releases; the wire names the map by it (0..65535)."""
    name: str
    factory: Callable[[], V]
    """Builds the default object on create-if-absent."""
    codec: Codec[V] | None = None
    """Bytes form for hand-over; default: the marshalled ``__dict__`` of the factory's class."""
    storage: Callable[[], Storage[V]] | None = None
    """Builds this map's storage at an agent; default: ``PyStorage`` (a dict)."""
    replication: Replication = Replication.ASYNC
    """How held objects reach their backup when the agent replicates."""

    def make_storage(self) -> Storage[V]:
        if self.storage is not None:
            return self.storage()
        codec = self.codec or ObjectCodec(type(self.factory()))
        return PyStorage(codec, self.factory)


@dataclass(frozen=True)
class MwMap(Generic[V]):
    """A MultiWriter map: objects stay at their home; calls go there."""

    map_id: int
    name: str
    cls: type[V]
    """A plain class whose no-argument constructor makes the initial object."""
    codec: Codec[V] | None = None
    replication: Replication = Replication.ASYNC
    """How the home's objects reach their backup when the agent replicates."""
    methods: tuple[MethodSpec, ...] = field(init=False)
    by_name: dict[str, MethodSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        table = method_table(self.cls)
        object.__setattr__(self, "methods", table)
        object.__setattr__(self, "by_name", {m.name: m for m in table})

    def make_storage(self) -> Storage[V]:
        return PyStorage(self.codec or ObjectCodec(self.cls), self.cls)

    def spec_of(self, method: Callable[..., Any]) -> MethodSpec:
        spec = self.by_name.get(getattr(method, "__name__", ""))
        if spec is None or vars(self.cls).get(spec.name) is not method:
            raise TypeError(
                f"{method!r} is not a public method of {self.cls.__name__} (map {self.name})"
            )
        return spec


AnyMap = SwMap[Any] | MwMap[Any]


class Schema:
    """The maps of one NF deployment, by id; every agent must load the same schema."""

    def __init__(self, maps: Iterable[AnyMap]) -> None:
        self.maps: dict[int, AnyMap] = {}
        for m in maps:
            if not 0 <= m.map_id <= 0xFFFF:
                raise ValueError(f"map id of {m.name!r} must be in [0, 65535], got {m.map_id}")
            if m.map_id in self.maps:
                raise ValueError(
                    f"map id {m.map_id} declared twice: {self.maps[m.map_id].name!r}, {m.name!r}"
                )
            self.maps[m.map_id] = m

    def get(self, map_id: int) -> AnyMap:
        try:
            return self.maps[map_id]
        except KeyError:
            known = sorted(self.maps)
            raise UnknownMap(f"unknown map id {map_id}; this schema has {known}") from None
