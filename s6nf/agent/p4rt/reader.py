"""Read requests: table entries (single, filtered or wildcard) and ``bucket_counter`` cells."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import grpc
from p4.v1 import p4runtime_pb2

from s6nf.agent.p4rt.backend import SteeringBackend, Verdict
from s6nf.agent.p4rt.entries import EntryCodec, TableKey
from s6nf.agent.p4rt.errors import P4RuntimeError
from s6nf.agent.p4rt.pipeline import Table

_Plan = Callable[[], Iterator[p4runtime_pb2.Entity]]


class Reader:
    """Answers the entities of one ReadRequest from the backend."""

    def __init__(self, codec: EntryCodec, backend: SteeringBackend) -> None:
        self._codec = codec
        self._backend = backend

    def read(self, entities: Sequence[p4runtime_pb2.Entity]) -> Iterator[p4runtime_pb2.Entity]:
        """Every entity that matches one of ``entities``; all are checked before any is read.

        A table entry with ``table_id`` 0 reads every table; one with a table and no match
        fields reads the whole table; given match fields filter (exact equality). A read of
        an entry that does not exist yields nothing.
        """
        plans = [self._plan(entity) for entity in entities]
        for plan in plans:
            yield from plan()

    def _plan(self, entity: p4runtime_pb2.Entity) -> _Plan:
        kind = entity.WhichOneof("entity")
        if kind == "table_entry":
            return self._plan_table(entity.table_entry)
        if kind == "counter_entry":
            return self._plan_counter(entity.counter_entry)
        raise P4RuntimeError(
            grpc.StatusCode.UNIMPLEMENTED, f"this target reads table and counter entries: {kind}"
        )

    def _plan_table(self, query: p4runtime_pb2.TableEntry) -> _Plan:
        pipeline = self._codec.pipeline
        if query.table_id == 0:
            if query.match:
                raise P4RuntimeError(
                    grpc.StatusCode.INVALID_ARGUMENT, "match fields need a table_id"
                )
            tables = [pipeline.flow_pin, pipeline.key_space]
            return lambda: (e for t in tables for e in self._entries(t, {}))
        table = self._codec.table(query.table_id)
        if query.is_default_action:
            default = p4runtime_pb2.Entity(table_entry=self._codec.default_entry(table))
            return lambda: iter([default])
        values = self._codec.match_values(table, query)
        return lambda: self._entries(table, values)

    def _entries(self, table: Table, values: dict[str, int]) -> Iterator[p4runtime_pb2.Entity]:
        contents: dict[TableKey, Verdict]
        if table is self._codec.pipeline.key_space:
            contents = {k: v for k, v in self._backend.read_key_space().items()}
        else:
            contents = {k: v for k, v in self._backend.read_flow_pins().items()}
        for key in sorted(contents, key=_order):
            if self._codec.key_matches(table, key, values):
                yield p4runtime_pb2.Entity(table_entry=self._codec.entry(table, key, contents[key]))

    def _plan_counter(self, query: p4runtime_pb2.CounterEntry) -> _Plan:
        counter = self._codec.pipeline.bucket_counter
        if query.counter_id not in (0, counter.id):
            raise P4RuntimeError(
                grpc.StatusCode.NOT_FOUND,
                f"unknown counter id {query.counter_id}; counters: {counter.id} ({counter.alias})",
            )
        cells = self._backend.buckets
        indices: list[int] | None = None
        if query.HasField("index"):
            index = query.index.index
            if not 0 <= index < cells:
                raise P4RuntimeError(
                    grpc.StatusCode.OUT_OF_RANGE,
                    f"bucket_counter index {index} out of range [0, {cells})",
                )
            indices = [index]

        def cells_read() -> Iterator[p4runtime_pb2.Entity]:
            values = self._backend.read_bucket_counters(indices)
            for index in sorted(values):
                packets, nbytes = values[index]
                entry = p4runtime_pb2.CounterEntry(counter_id=counter.id)
                entry.index.index = index
                entry.data.packet_count = packets
                entry.data.byte_count = nbytes
                yield p4runtime_pb2.Entity(counter_entry=entry)

        return cells_read


def _order(key: TableKey) -> tuple[int, bytes]:
    return (key, b"") if isinstance(key, int) else (0, key)
