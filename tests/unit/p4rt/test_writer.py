"""The order a batch reaches the data plane in, and its undo when the data plane fails."""

from collections.abc import Mapping

import grpc
import pytest

from s6nf.agent.p4rt import BackendError, Drop, Forward, MemoryBackend, Verdict
from s6nf.agent.p4rt.entries import EntryCodec
from s6nf.agent.p4rt.errors import P4RuntimeError
from s6nf.agent.p4rt.writer import BatchFailed, BatchWriter
from s6nf.keys import FlowKey
from tests.p4rt_client import PIPELINE, Update, ks_entry, pin_entry, update

OLD = FlowKey.of("10.0.0.1", "10.0.0.2", 1000, 80, 6).canonical()
NEW = FlowKey.of("10.0.0.3", "10.0.0.4", 2000, 80, 6).canonical()


class Recording(MemoryBackend):
    def __init__(self, fail_on: str = "", max_pins: int = 1024) -> None:
        super().__init__(max_pins=max_pins)
        self.calls: list[str] = []
        self.fail_on = fail_on

    def _record(self, name: str) -> None:
        if name == self.fail_on:
            raise BackendError(f"{name} failed")
        self.calls.append(name)

    def apply_key_space(self, updates: Mapping[int, Verdict | None]) -> None:
        self._record("key_space")
        super().apply_key_space(updates)

    def insert_flow_pin(self, key: bytes, verdict: Verdict) -> None:
        self._record("insert")
        super().insert_flow_pin(key, verdict)

    def modify_flow_pin(self, key: bytes, verdict: Verdict) -> None:
        self._record("modify")
        super().modify_flow_pin(key, verdict)

    def delete_flow_pin(self, key: bytes) -> None:
        self._record("delete")
        super().delete_flow_pin(key)


def writer_for(backend: MemoryBackend) -> BatchWriter:
    return BatchWriter(EntryCodec(PIPELINE, backend.buckets), backend)


def test_pins_are_set_before_buckets_move_and_released_after():
    backend = Recording()
    backend.insert_flow_pin(OLD, Drop())
    backend.calls.clear()
    writer_for(backend).write([
        update(Update.DELETE, pin_entry(OLD, port=None)),
        update(Update.INSERT, ks_entry(7)),
        update(Update.INSERT, pin_entry(NEW)),
    ])
    assert backend.calls == ["insert", "key_space", "delete"]


def test_deletes_go_first_when_inserts_would_not_fit():
    backend = Recording(max_pins=1)
    backend.insert_flow_pin(OLD, Drop())
    backend.calls.clear()
    writer_for(backend).write([
        update(Update.DELETE, pin_entry(OLD, port=None)),
        update(Update.INSERT, pin_entry(NEW)),
    ])
    assert backend.calls == ["delete", "insert"]
    assert list(backend.read_flow_pins()) == [NEW]


def test_a_batch_that_changes_nothing_touches_nothing():
    backend = Recording()
    writer_for(backend).write([
        update(Update.INSERT, ks_entry(7)),
        update(Update.DELETE, ks_entry(7, port=None)),
    ])
    assert backend.calls == []


def test_a_failure_midway_undoes_the_steps_taken():
    backend = Recording(fail_on="delete")
    backend.insert_flow_pin(OLD, Drop())
    backend.insert_flow_pin(NEW, Drop())
    backend.apply_key_space({7: Forward(1, b"\x02" * 6)})
    before = backend.read_key_space(), backend.read_flow_pins()
    with pytest.raises(P4RuntimeError) as error:
        writer_for(backend).write([
            update(Update.MODIFY, pin_entry(NEW)),
            update(Update.MODIFY, ks_entry(7, port=2)),
            update(Update.DELETE, pin_entry(OLD, port=None)),
        ])
    assert error.value.code == grpc.StatusCode.INTERNAL
    assert "delete failed" in error.value.message
    assert "undone" in error.value.message
    assert (backend.read_key_space(), backend.read_flow_pins()) == before


def test_a_failed_undo_says_the_tables_may_be_inconsistent():
    backend = Recording(fail_on="delete")
    backend.insert_flow_pin(OLD, Drop())
    with pytest.raises(P4RuntimeError, match="undoing the batch failed too"):
        writer_for(backend).write([
            update(Update.INSERT, pin_entry(NEW)),
            update(Update.DELETE, pin_entry(OLD, port=None)),
        ])


def test_validation_failures_list_every_update():
    backend = Recording()
    with pytest.raises(BatchFailed) as failed:
        writer_for(backend).write([
            update(Update.INSERT, ks_entry(7)),
            update(Update.INSERT, ks_entry(7)),
            update(Update.MODIFY, ks_entry(8)),
        ])
    codes = [None if e is None else e.code for e in failed.value.errors]
    assert codes == [None, grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.NOT_FOUND]
    assert backend.calls == []
