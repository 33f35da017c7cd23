"""Every refusal of a Write or Read: the code the spec asks for, and a data plane unchanged."""

from typing import Any

import grpc
import pytest
from p4.v1 import p4runtime_pb2

from s6nf.agent.p4rt import BackendError, MemoryBackend, serve
from s6nf.keys import FlowKey
from tests.p4rt_client import (
    COUNTER,
    KS,
    PIN,
    Client,
    Update,
    batch_errors,
    ks_entry,
    pin_entry,
    update,
)

OK, NOT_FOUND, ALREADY_EXISTS, INVALID, ABORTED = 0, 5, 6, 3, 10
RESOURCE_EXHAUSTED, UNIMPLEMENTED, PERMISSION_DENIED = 8, 12, 7
FLOW = FlowKey.of("10.0.0.9", "10.0.0.1", 4000, 80, 6)


def snapshot(backend: MemoryBackend) -> tuple[object, object]:
    return backend.read_key_space(), backend.read_flow_pins()


@pytest.fixture
def seeded(primary, backend):
    """A primary client, with bucket 1 and one flow pin installed."""
    primary.write(update(Update.INSERT, ks_entry(1)),
                  update(Update.INSERT, pin_entry(FLOW.canonical())))
    return primary


def failed_write(client: Client, *updates: Any) -> Any:
    with pytest.raises(grpc.RpcError) as failure:
        client.write(*updates)
    return failure.value


def with_field(entry: Any, field_id: int, value: bytes) -> Any:
    entry.match.add(field_id=field_id).exact.value = value
    return entry


def bad_param(port_value: bytes | None = None, dmac_value: bytes | None = None,
              drop_param: bool = False, extra_param: bool = False) -> Any:
    entry = ks_entry(7)
    params = entry.action.action.params
    if port_value is not None:
        params[0].value = port_value
    if dmac_value is not None:
        params[1].value = dmac_value
    if drop_param:
        del params[1]
    if extra_param:
        params.add(param_id=9, value=b"\x01")
    return entry


def unknown_table() -> Any:
    entry = ks_entry(7)
    entry.table_id = 0x02FFFFFF
    return entry


def unknown_action() -> Any:
    entry = ks_entry(7)
    entry.action.action.action_id = 0x01FFFFFF
    return entry


def no_action_in_entry() -> Any:
    entry = ks_entry(7)
    entry.action.action.action_id = PIN.const_default_action_id
    del entry.action.action.params[:]
    return entry


def non_canonical_pin() -> Any:
    c = FLOW.canonical()
    return pin_entry(c[4:8] + c[0:4] + c[10:12] + c[8:10] + c[12:])


@pytest.mark.parametrize(("make_update", "code", "words"), [
    (lambda: update(Update.INSERT, ks_entry(1)), ALREADY_EXISTS, "already exists"),
    (lambda: update(Update.INSERT, pin_entry(FLOW.canonical())), ALREADY_EXISTS, "already exists"),
    (lambda: update(Update.DELETE, ks_entry(2, port=None)), NOT_FOUND, "does not exist"),
    (lambda: update(Update.MODIFY, ks_entry(2)), NOT_FOUND, "does not exist"),
    (lambda: update(Update.INSERT, unknown_table()), NOT_FOUND, "unknown table id"),
    (lambda: update(Update.INSERT, unknown_action()), NOT_FOUND, "unknown action id"),
    (lambda: update(Update.INSERT, ks_entry(0, raw_bucket=b"\0\0\x07")), INVALID, "3 bytes"),
    (lambda: update(Update.INSERT, ks_entry(0, raw_bucket=b"")), INVALID, "empty"),
    (lambda: update(Update.INSERT, ks_entry(5000)), INVALID, "5000 out of range"),
    (lambda: update(Update.INSERT, with_field(ks_entry(7), 9, b"\x01")), INVALID, "field id 9"),
    (lambda: update(Update.INSERT, with_field(ks_entry(7), 1, b"\x01")), INVALID, "twice"),
    (lambda: update(Update.INSERT, bad_param(port_value=b"\x02\x00")), INVALID, "0x200"),
    (lambda: update(Update.INSERT, bad_param(dmac_value=b"\x01" * 7)), INVALID, "7 bytes"),
    (lambda: update(Update.INSERT, bad_param(drop_param=True)), INVALID, "missing: dmac"),
    (lambda: update(Update.INSERT, bad_param(extra_param=True)), INVALID, "parameter id 9"),
    (lambda: update(Update.INSERT, no_action_in_entry()), INVALID, "not allowed"),
    (lambda: update(Update.INSERT, ks_entry(7, port=None)), INVALID, "no action"),
    (lambda: update(Update.INSERT, non_canonical_pin()), INVALID, "not canonical"),
    (lambda: update(Update.UNSPECIFIED, ks_entry(7)), INVALID, "UNSPECIFIED"),
])
def test_a_bad_update_fails_its_batch_and_changes_nothing(seeded, backend, make_update, code,
                                                          words):
    before = snapshot(backend)
    good = update(Update.INSERT, ks_entry(3))
    error = failed_write(seeded, good, make_update())
    [(first_code, _), (second_code, message)] = batch_errors(error)
    assert (first_code, second_code) == (ABORTED, code)
    assert words in message
    assert snapshot(backend) == before


def test_every_failed_update_of_a_batch_is_reported(seeded, backend):
    error = failed_write(seeded,
                         update(Update.INSERT, ks_entry(1)),
                         update(Update.INSERT, ks_entry(2)),
                         update(Update.DELETE, ks_entry(9, port=None)))
    assert [code for code, _ in batch_errors(error)] == [ALREADY_EXISTS, ABORTED, NOT_FOUND]
    assert "2 of 3 updates failed" in error.details()


def test_updates_of_a_batch_see_the_earlier_ones(seeded, backend):
    seeded.write(update(Update.INSERT, ks_entry(2, port=5)),
                 update(Update.MODIFY, ks_entry(2, port=6)),
                 update(Update.DELETE, ks_entry(1, port=None)))
    assert {b: v.port for b, v in backend.read_key_space().items()} == {2: 6}


def test_counter_entries_are_read_only(seeded, backend):
    write = p4runtime_pb2.Update(type=Update.MODIFY)
    write.entity.counter_entry.counter_id = COUNTER.id
    write.entity.counter_entry.index.index = 1
    assert batch_errors(failed_write(seeded, write))[0][0] == UNIMPLEMENTED


def test_const_default_action_cannot_be_written(seeded):
    entry = p4runtime_pb2.TableEntry(table_id=KS.id, is_default_action=True)
    entry.action.action.action_id = KS.const_default_action_id
    error = failed_write(seeded, update(Update.MODIFY, entry))
    assert batch_errors(error)[0][0] == PERMISSION_DENIED


def test_write_from_a_backup_is_permission_denied(seeded, backend, connect):
    before = snapshot(backend)
    backup = connect()
    assert backup.arbitrate((0, 0)).status.code == ALREADY_EXISTS
    error = failed_write(backup, update(Update.INSERT, ks_entry(4)))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    no_id = p4runtime_pb2.WriteRequest(device_id=1)
    no_id.updates.append(update(Update.INSERT, ks_entry(4)))
    with pytest.raises(grpc.RpcError) as failure:
        backup.stub.Write(no_id, timeout=5)
    assert failure.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert snapshot(backend) == before


def test_write_and_read_for_another_device_are_not_found(seeded):
    request = p4runtime_pb2.WriteRequest(device_id=2)
    request.election_id.low = 1
    request.updates.append(update(Update.INSERT, ks_entry(4)))
    with pytest.raises(grpc.RpcError) as failure:
        seeded.stub.Write(request, timeout=5)
    assert failure.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as failure:
        seeded.read(p4runtime_pb2.Entity(table_entry=ks_entry(1, port=None)), device_id=2)
    assert failure.value.code() == grpc.StatusCode.NOT_FOUND


def test_write_and_read_before_a_pipeline_is_set_fail_precondition(connect, backend):
    client = connect()
    assert client.arbitrate((0, 1)).status.code == OK
    with pytest.raises(grpc.RpcError) as failure:
        client.write(update(Update.INSERT, ks_entry(4)))
    assert failure.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as failure:
        client.read_table(KS.id)
    assert failure.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert snapshot(backend) == ({}, {})


def test_bad_reads_name_the_problem(seeded):
    cases = [
        (p4runtime_pb2.Entity(table_entry=p4runtime_pb2.TableEntry(table_id=0x02ABCDEF)),
         grpc.StatusCode.NOT_FOUND),
        (p4runtime_pb2.Entity(counter_entry=p4runtime_pb2.CounterEntry(counter_id=0x12ABCDEF)),
         grpc.StatusCode.NOT_FOUND),
        (p4runtime_pb2.Entity(table_entry=ks_entry(0, port=None, raw_bucket=b"\0\0\x01")),
         grpc.StatusCode.INVALID_ARGUMENT),
    ]
    out_of_range = p4runtime_pb2.Entity()
    out_of_range.counter_entry.counter_id = COUNTER.id
    out_of_range.counter_entry.index.index = 4096
    cases.append((out_of_range, grpc.StatusCode.OUT_OF_RANGE))
    for entity, code in cases:
        with pytest.raises(grpc.RpcError) as failure:
            seeded.read(entity)
        assert failure.value.code() == code, entity


def test_a_full_flow_pin_table_is_resource_exhausted():
    backend = MemoryBackend(max_pins=1)
    with serve(backend, "127.0.0.1:0", device_id=1, preloaded=True) as server:
        client = Client(server.address)
        try:
            assert client.arbitrate((0, 1)).status.code == OK
            other = FlowKey.of("10.0.0.1", "10.0.0.2", 1, 2, 17)
            error = failed_write(client, update(Update.INSERT, pin_entry(FLOW.canonical())),
                                 update(Update.INSERT, pin_entry(other.canonical())))
            assert [c for c, _ in batch_errors(error)] == [ABORTED, RESOURCE_EXHAUSTED]
            assert backend.read_flow_pins() == {}
            client.write(update(Update.INSERT, pin_entry(FLOW.canonical())))
            client.write(update(Update.DELETE, pin_entry(FLOW.canonical(), port=None)),
                         update(Update.INSERT, pin_entry(other.canonical())))
            assert list(backend.read_flow_pins()) == [other.canonical()]
        finally:
            client.close()


class FailingKeySpace(MemoryBackend):
    def apply_key_space(self, updates):
        raise BackendError("map update failed: ENOMEM")


def test_a_backend_failure_undoes_the_batch():
    backend = FailingKeySpace()
    with serve(backend, "127.0.0.1:0", device_id=1, preloaded=True) as server:
        client = Client(server.address)
        try:
            client.arbitrate((0, 1))
            with pytest.raises(grpc.RpcError) as failure:
                client.write(update(Update.INSERT, pin_entry(FLOW.canonical())),
                             update(Update.INSERT, ks_entry(3)))
            assert failure.value.code() == grpc.StatusCode.INTERNAL
            assert "ENOMEM" in failure.value.details()
            assert "undone" in failure.value.details()
            assert backend.read_flow_pins() == {}
        finally:
            client.close()
