"""Write batches: validate every update, then apply the batch to the backend all or nothing.

Updates are checked in order against a shadow copy of the tables, so a batch may insert an
entry and modify it later; a failed update leaves the shadow as it was, so every failure of
the batch is reported. Only a batch without failures reaches the backend, as its net change:

1. flow pins inserted or modified (flows that must stay put are pinned first),
2. the key space, in one atomic ``apply_key_space``,
3. flow pins deleted (flows released after their buckets moved); first instead, if the
   inserts would not fit in ``flow_pin`` before them.

If the backend fails midway, the steps already taken are undone in reverse order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NoReturn, cast

import grpc
from p4.v1 import p4runtime_pb2

from s6nf.agent.p4rt.backend import BackendError, SteeringBackend, Verdict
from s6nf.agent.p4rt.entries import EntryCodec, TableKey
from s6nf.agent.p4rt.errors import P4RuntimeError


class BatchFailed(Exception):
    """Some updates of a batch failed validation; nothing was applied."""

    def __init__(self, errors: Sequence[P4RuntimeError | None]) -> None:
        super().__init__(f"{sum(e is not None for e in errors)} of {len(errors)} updates failed")
        self.errors = list(errors)


class BatchWriter:
    """Applies Write batches of ``key_space`` and ``flow_pin`` entries to one backend."""

    def __init__(self, codec: EntryCodec, backend: SteeringBackend) -> None:
        self._codec = codec
        self._backend = backend

    def write(self, updates: Sequence[p4runtime_pb2.Update]) -> None:
        """Apply ``updates`` or raise ``BatchFailed`` (nothing applied) or ``P4RuntimeError``."""
        pipeline = self._codec.pipeline
        before: dict[int, dict[TableKey, Verdict]] = {
            pipeline.key_space.id: {k: v for k, v in self._backend.read_key_space().items()},
            pipeline.flow_pin.id: {k: v for k, v in self._backend.read_flow_pins().items()},
        }
        shadow = {table_id: dict(entries) for table_id, entries in before.items()}
        errors: list[P4RuntimeError | None] = []
        for update in updates:
            try:
                self._stage(update, shadow)
                errors.append(None)
            except P4RuntimeError as error:
                errors.append(error)
        if any(errors):
            raise BatchFailed(errors)
        self._commit(before, shadow)

    def clear(self) -> None:
        """Remove every entry: a committed pipeline starts with empty tables."""
        try:
            key_space = self._backend.read_key_space()
            if key_space:
                self._backend.apply_key_space(dict.fromkeys(key_space))
            for key in self._backend.read_flow_pins():
                self._backend.delete_flow_pin(key)
        except BackendError as error:
            raise P4RuntimeError(
                grpc.StatusCode.INTERNAL, f"clearing the tables failed: {error}"
            ) from error

    def _stage(
        self, update: p4runtime_pb2.Update, shadow: dict[int, dict[TableKey, Verdict]]
    ) -> None:
        Update = p4runtime_pb2.Update
        if update.type == Update.UNSPECIFIED:
            raise P4RuntimeError(grpc.StatusCode.INVALID_ARGUMENT, "update type is UNSPECIFIED")
        kind = update.entity.WhichOneof("entity")
        if kind == "counter_entry":
            raise P4RuntimeError(
                grpc.StatusCode.UNIMPLEMENTED, "bucket_counter is read-only on this target"
            )
        if kind != "table_entry":
            raise P4RuntimeError(
                grpc.StatusCode.UNIMPLEMENTED, f"this target writes only table entries, got {kind}"
            )
        entry = update.entity.table_entry
        table = self._codec.table(entry.table_id)
        if entry.is_default_action:
            raise P4RuntimeError(
                grpc.StatusCode.PERMISSION_DENIED, f"the default action of {table.alias} is const"
            )
        self._codec.check_plain(table, entry)
        key = self._codec.key(table, entry)
        entries = shadow[table.id]
        name = f"{table.alias} entry {_show(key)}"
        if update.type == Update.DELETE:
            if key not in entries:
                raise P4RuntimeError(grpc.StatusCode.NOT_FOUND, f"{name} does not exist")
            del entries[key]
            return
        if not entry.HasField("action"):
            raise P4RuntimeError(grpc.StatusCode.INVALID_ARGUMENT, f"{name} has no action")
        verdict = self._codec.verdict(table, entry.action)
        if update.type == Update.INSERT:
            if key in entries:
                raise P4RuntimeError(grpc.StatusCode.ALREADY_EXISTS, f"{name} already exists")
            if table is self._codec.pipeline.flow_pin and len(entries) >= self._backend.max_pins:
                raise P4RuntimeError(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"flow_pin is full ({self._backend.max_pins} entries); cannot add {_show(key)}",
                )
        elif key not in entries:
            raise P4RuntimeError(grpc.StatusCode.NOT_FOUND, f"{name} does not exist")
        entries[key] = verdict

    def _commit(self, before: dict[int, dict[TableKey, Verdict]],
                after: dict[int, dict[TableKey, Verdict]]) -> None:
        pipeline = self._codec.pipeline
        ks_old, ks_new = before[pipeline.key_space.id], after[pipeline.key_space.id]
        pins_old, pins_new = before[pipeline.flow_pin.id], after[pipeline.flow_pin.id]
        ks_diff = {
            cast(int, b): ks_new.get(b)
            for b in ks_old.keys() | ks_new.keys()
            if ks_old.get(b) != ks_new.get(b)
        }
        ks_undo = {b: ks_old.get(b) for b in ks_diff}
        steps: list[tuple[Callable[[], None], Callable[[], None]]] = []
        b = self._backend
        deletes = [
            (_call(b.delete_flow_pin, key), _call(b.insert_flow_pin, key, old))
            for key, old in pins_old.items() if key not in pins_new
        ]
        inserts = len(pins_new.keys() - pins_old.keys())
        if len(pins_old) + inserts > b.max_pins:
            steps.extend(deletes)
            deletes = []
        for key, verdict in pins_new.items():
            old = pins_old.get(key)
            if old is None:
                steps.append(
                    (_call(b.insert_flow_pin, key, verdict), _call(b.delete_flow_pin, key))
                )
            elif old != verdict:
                steps.append((_call(b.modify_flow_pin, key, verdict),
                              _call(b.modify_flow_pin, key, old)))
        if ks_diff:
            steps.append((lambda: b.apply_key_space(ks_diff), lambda: b.apply_key_space(ks_undo)))
        steps.extend(deletes)
        done: list[Callable[[], None]] = []
        for do, undo in steps:
            try:
                do()
            except BackendError as error:
                self._undo(done, error)
            done.append(undo)

    @staticmethod
    def _undo(done: list[Callable[[], None]], error: BackendError) -> NoReturn:
        try:
            for undo in reversed(done):
                undo()
        except BackendError as undo_error:
            raise P4RuntimeError(
                grpc.StatusCode.INTERNAL,
                f"the data plane failed ({error}) and undoing the batch failed too "
                f"({undo_error}): the tables may hold part of the batch; read them back",
            ) from undo_error
        raise P4RuntimeError(
            grpc.StatusCode.INTERNAL, f"the data plane failed ({error}); the batch was undone"
        ) from error


def _call(fn: Callable[..., None], *args: object) -> Callable[[], None]:
    return lambda: fn(*args)


def _show(key: TableKey) -> str:
    return str(key) if isinstance(key, int) else key.hex()
