"""Table entries: P4Runtime ``TableEntry`` messages <-> the backend's keys and verdicts.

A ``key_space`` key is the bucket (``int``); a ``flow_pin`` key is the 13 canonical bytes of
``s6nf.keys``. Every check of a single entry against the P4Info lives here; checks against
the table's contents (duplicates, missing entries, capacity) are the writer's.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

import grpc
from p4.v1 import p4runtime_pb2

from s6nf.agent.p4rt.backend import Drop, Forward, Verdict
from s6nf.agent.p4rt.codec import decode, encode
from s6nf.agent.p4rt.errors import P4RuntimeError
from s6nf.agent.p4rt.pipeline import Pipeline, Table

TableKey = int | bytes
"""A bucket (``key_space``) or a canonical flow key (``flow_pin``)."""

_CANONICAL = struct.Struct("!IIHHB")

INVALID = grpc.StatusCode.INVALID_ARGUMENT


class EntryCodec:
    """Decodes and encodes the entries of the pipeline's two tables."""

    def __init__(self, pipeline: Pipeline, buckets: int) -> None:
        self.pipeline = pipeline
        self.buckets = buckets

    def table(self, table_id: int) -> Table:
        table = self.pipeline.tables.get(table_id)
        if table is None:
            known = ", ".join(f"{t.id} ({t.alias})" for t in self.pipeline.tables.values())
            raise P4RuntimeError(
                grpc.StatusCode.NOT_FOUND, f"unknown table id {table_id}; tables: {known}"
            )
        return table

    def check_plain(self, table: Table, entry: p4runtime_pb2.TableEntry) -> None:
        """Refuse what an exact-match table without direct resources cannot hold."""
        if entry.priority != 0:
            raise P4RuntimeError(
                INVALID, f"{table.alias}: priority must be 0 (exact table), got {entry.priority}"
            )
        for name in ("meter_config", "counter_data", "meter_counter_data", "time_since_last_hit"):
            if entry.HasField(name):
                raise P4RuntimeError(INVALID, f"{table.alias} has no {name}; leave it unset")
        if entry.idle_timeout_ns != 0:
            raise P4RuntimeError(
                INVALID, f"{table.alias} has no idle timeout, got {entry.idle_timeout_ns} ns"
            )
        if entry.controller_metadata or entry.metadata:
            raise P4RuntimeError(
                grpc.StatusCode.UNIMPLEMENTED,
                f"{table.alias}: this target does not store controller_metadata or metadata",
            )

    def match_values(self, table: Table, entry: p4runtime_pb2.TableEntry) -> dict[str, int]:
        """The given match fields by name; every one must be known, exact and in range."""
        values: dict[str, int] = {}
        for match in entry.match:
            field = table.field(match.field_id)
            if field is None:
                ids = ", ".join(f"{f.id} ({f.name})" for f in table.fields)
                raise P4RuntimeError(
                    INVALID, f"{table.alias}: unknown match field id {match.field_id}; ids: {ids}"
                )
            if field.name in values:
                raise P4RuntimeError(INVALID, f"{table.alias}: field {field.name} given twice")
            if match.WhichOneof("field_match_type") != "exact":
                kind = match.WhichOneof("field_match_type")
                raise P4RuntimeError(
                    INVALID, f"{table.alias}: field {field.name} is exact, got a {kind} match"
                )
            what = f"{table.alias}.{field.name}"
            values[field.name] = decode(match.exact.value, field.bitwidth, what)
        return values

    def key(self, table: Table, entry: p4runtime_pb2.TableEntry) -> TableKey:
        """The backend key of an entry that names every match field."""
        values = self.match_values(table, entry)
        missing = [f.name for f in table.fields if f.name not in values]
        if missing:
            raise P4RuntimeError(
                INVALID, f"{table.alias}: exact match fields missing: {', '.join(missing)}"
            )
        return self.key_of(table, values)

    def key_of(self, table: Table, values: Mapping[str, int]) -> TableKey:
        if table is self.pipeline.key_space:
            bucket = values["bucket"]
            if bucket >= self.buckets:
                raise P4RuntimeError(
                    INVALID, f"bucket {bucket} out of range [0, {self.buckets}) of the key space"
                )
            return bucket
        lo, hi = (values["addr_lo"], values["port_lo"]), (values["addr_hi"], values["port_hi"])
        if lo > hi:
            raise P4RuntimeError(
                INVALID,
                f"flow_pin key is not canonical: (addr_lo, port_lo) = ({lo[0]:#010x}, {lo[1]}) > "
                f"(addr_hi, port_hi) = ({hi[0]:#010x}, {hi[1]}); put the lower endpoint first",
            )
        return _CANONICAL.pack(lo[0], hi[0], lo[1], hi[1], values["proto"])

    def key_matches(self, table: Table, key: TableKey, values: Mapping[str, int]) -> bool:
        """Whether ``key`` agrees with the (possibly partial) match ``values`` of a read."""
        fields = _fields_of(key)
        return all(fields[name] == v for name, v in values.items())

    def verdict(self, table: Table, action: p4runtime_pb2.TableAction) -> Verdict:
        if action.WhichOneof("type") != "action":
            raise P4RuntimeError(
                INVALID, f"{table.alias} has no action profile; give a direct action"
            )
        action_id = action.action.action_id
        info = self.pipeline.actions.get(action_id)
        if info is None:
            raise P4RuntimeError(grpc.StatusCode.NOT_FOUND, f"unknown action id {action_id}")
        if action_id not in table.action_ids:
            raise P4RuntimeError(
                INVALID, f"action {info.alias} is not allowed in {table.alias} entries"
            )
        params: dict[str, int] = {}
        by_id = {p.id: p for p in info.params}
        for param in action.action.params:
            spec = by_id.get(param.param_id)
            if spec is None:
                raise P4RuntimeError(
                    INVALID, f"action {info.alias} has no parameter id {param.param_id}"
                )
            if spec.name in params:
                raise P4RuntimeError(
                    INVALID, f"action {info.alias}: parameter {spec.name} given twice"
                )
            params[spec.name] = decode(param.value, spec.bitwidth, f"{info.alias}.{spec.name}")
        missing = [p.name for p in info.params if p.name not in params]
        if missing:
            raise P4RuntimeError(
                INVALID, f"action {info.alias}: parameters missing: {', '.join(missing)}"
            )
        if info is self.pipeline.drop:
            return Drop()
        return Forward(port=params["port"], dmac=params["dmac"].to_bytes(6, "big"))

    def entry(self, table: Table, key: TableKey, verdict: Verdict) -> p4runtime_pb2.TableEntry:
        message = p4runtime_pb2.TableEntry(table_id=table.id)
        fields = _fields_of(key)
        for f in table.fields:
            match = message.match.add(field_id=f.id)
            match.exact.value = encode(fields[f.name])
        self._set_action(message.action, verdict)
        return message

    def default_entry(self, table: Table) -> p4runtime_pb2.TableEntry:
        message = p4runtime_pb2.TableEntry(table_id=table.id, is_default_action=True)
        message.action.action.action_id = table.const_default_action_id
        return message

    def _set_action(self, action: p4runtime_pb2.TableAction, verdict: Verdict) -> None:
        if isinstance(verdict, Drop):
            action.action.action_id = self.pipeline.drop.id
            return
        fwd = self.pipeline.forward
        action.action.action_id = fwd.id
        values = {"port": verdict.port, "dmac": int.from_bytes(verdict.dmac, "big")}
        for p in fwd.params:
            action.action.params.add(param_id=p.id, value=encode(values[p.name]))


def _fields_of(key: TableKey) -> dict[str, int]:
    if isinstance(key, int):
        return {"bucket": key}
    addr_lo, addr_hi, port_lo, port_hi, proto = _CANONICAL.unpack(key)
    return {"addr_lo": addr_lo, "addr_hi": addr_hi, "port_lo": port_lo,
            "port_hi": port_hi, "proto": proto}
