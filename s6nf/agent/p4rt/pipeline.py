"""The one pipeline this server serves, as read from its committed P4Info.

Ids and widths come from ``p4/steer.p4info.txtpb``, so the server follows the contract file
rather than constants of its own. ``differences`` tells why another P4Info is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from google.protobuf import text_format
from p4.config.v1 import p4info_pb2

DEFAULT_P4INFO = Path(__file__).resolve().parents[3] / "p4" / "steer.p4info.txtpb"

KEY_SPACE = "key_space"
FLOW_PIN = "flow_pin"
FORWARD = "forward"
DROP = "drop"
NO_ACTION = "NoAction"
BUCKET_COUNTER = "bucket_counter"
FLOW_KEY_FIELDS = ("addr_lo", "addr_hi", "port_lo", "port_hi", "proto")


@dataclass(frozen=True)
class Field:
    """A match field or an action parameter."""

    id: int
    name: str
    bitwidth: int


@dataclass(frozen=True)
class Table:
    id: int
    name: str
    alias: str
    fields: tuple[Field, ...]
    """Exact match fields in P4Info order."""
    action_ids: frozenset[int]
    """Actions an entry may hold (``DEFAULT_ONLY`` ones excluded)."""
    const_default_action_id: int
    size: int

    def field(self, field_id: int) -> Field | None:
        return next((f for f in self.fields if f.id == field_id), None)


@dataclass(frozen=True)
class Action:
    id: int
    name: str
    alias: str
    params: tuple[Field, ...]


@dataclass(frozen=True)
class Counter:
    id: int
    name: str
    alias: str
    size: int


class Pipeline:
    """The steering pipeline's P4Info and the entities the server needs from it."""

    def __init__(self, p4info: p4info_pb2.P4Info) -> None:
        self.p4info = p4info
        tables = {t.preamble.alias: _table(t) for t in p4info.tables}
        actions = {a.preamble.alias: _action(a) for a in p4info.actions}
        counters = {
            c.preamble.alias: Counter(c.preamble.id, c.preamble.name, c.preamble.alias, c.size)
            for c in p4info.counters
        }
        try:
            self.key_space = tables[KEY_SPACE]
            self.flow_pin = tables[FLOW_PIN]
            self.forward = actions[FORWARD]
            self.drop = actions[DROP]
            self.bucket_counter = counters[BUCKET_COUNTER]
        except KeyError as missing:
            raise ValueError(f"P4Info lacks the steering pipeline's {missing}") from None
        if tuple(f.name for f in self.flow_pin.fields) != FLOW_KEY_FIELDS:
            raise ValueError(f"flow_pin fields must be {FLOW_KEY_FIELDS}")
        self.tables = {t.id: t for t in tables.values()}
        self.actions = {a.id: a for a in actions.values()}
        self.counters = {c.id: c for c in counters.values()}

    @classmethod
    def load(cls, path: Path = DEFAULT_P4INFO) -> Pipeline:
        return cls(text_format.Parse(path.read_text(), p4info_pb2.P4Info()))

    def differences(self, other: p4info_pb2.P4Info) -> list[str]:
        """Why ``other`` is not this pipeline's P4Info; empty if it is.

        Compares every table, action and counter (ids, names, widths, match kinds, action
        references, sizes) and refuses any other kind of entity; documentation,
        annotations and ``pkg_info`` do not count.
        """
        want, got = _shape(self.p4info), _shape(other)
        problems = []
        for kind in sorted(want.keys() | got.keys()):
            mine, theirs = want.get(kind, {}), got.get(kind, {})
            for name in sorted(mine.keys() - theirs.keys()):
                problems.append(f"{kind} {name!r} is missing")
            for name in sorted(theirs.keys() - mine.keys()):
                problems.append(f"{kind} {name!r} is not part of the steering pipeline")
            for name in sorted(mine.keys() & theirs.keys()):
                if mine[name] != theirs[name]:
                    problems.append(
                        f"{kind} {name!r} differs: expected {mine[name]}, got {theirs[name]}"
                    )
        return problems


def _table(t: p4info_pb2.Table) -> Table:
    exact = p4info_pb2.MatchField.EXACT
    for f in t.match_fields:
        if f.match_type != exact:
            raise ValueError(f"table {t.preamble.name}: field {f.name} is not exact")
    return Table(
        id=t.preamble.id,
        name=t.preamble.name,
        alias=t.preamble.alias,
        fields=tuple(Field(f.id, f.name, f.bitwidth) for f in t.match_fields),
        action_ids=frozenset(
            r.id for r in t.action_refs if r.scope != p4info_pb2.ActionRef.DEFAULT_ONLY
        ),
        const_default_action_id=t.const_default_action_id,
        size=t.size,
    )


def _action(a: p4info_pb2.Action) -> Action:
    params = tuple(Field(p.id, p.name, p.bitwidth) for p in a.params)
    return Action(a.preamble.id, a.preamble.name, a.preamble.alias, params)


def _shape(info: p4info_pb2.P4Info) -> dict[str, dict[str, object]]:
    shape: dict[str, dict[str, object]] = {
        "table": {
            t.preamble.name: (
                t.preamble.id,
                [(f.id, f.name, f.bitwidth, f.match_type) for f in t.match_fields],
                sorted((r.id, r.scope) for r in t.action_refs),
                t.const_default_action_id,
                t.size,
                list(t.direct_resource_ids),
                t.implementation_id,
            )
            for t in info.tables
        },
        "action": {
            a.preamble.name: (a.preamble.id, [(p.id, p.name, p.bitwidth) for p in a.params])
            for a in info.actions
        },
        "counter": {
            c.preamble.name: (c.preamble.id, c.spec.unit, c.size) for c in info.counters
        },
    }
    for kind in ("action_profiles", "direct_counters", "meters", "direct_meters",
                 "controller_packet_metadata", "value_sets", "registers", "digests", "externs"):
        entities = getattr(info, kind)
        if entities:
            shape[kind] = {_entity_name(e): "present" for e in entities}
    return shape


def _entity_name(entity: object) -> str:
    preamble = getattr(entity, "preamble", None)
    return str(getattr(preamble, "name", entity))
