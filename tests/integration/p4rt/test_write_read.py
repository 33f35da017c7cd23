"""Writes and reads over a real gRPC server on loopback, with the in-memory backend."""

import pytest
from p4.v1 import p4runtime_pb2

from s6nf.agent.p4rt import Drop, Forward, MemoryBackend
from s6nf.keys import FlowKey
from tests.p4rt_client import COUNTER, KS, PIN, Update, drop_action, ks_entry, pin_entry, update


@pytest.fixture
def backend() -> MemoryBackend:
    """The in-memory target: these tests use its model of the data plane (``steer``)."""
    return MemoryBackend()

MAC = bytes.fromhex("020000000007")
FLOW = FlowKey.of("10.0.0.9", "10.0.0.1", 4000, 80, 6)


def test_key_space_insert_modify_delete_reach_the_backend(primary, backend):
    primary.write(update(Update.INSERT, ks_entry(5, port=3, dmac=MAC)),
                  update(Update.INSERT, ks_entry(6, port=4)))
    assert backend.read_key_space() == {5: Forward(3, MAC), 6: Forward(4, b"\x02\0\0\0\0\x01")}
    modified = ks_entry(5, port=None)
    modified.action.CopyFrom(drop_action())
    primary.write(update(Update.MODIFY, modified))
    assert backend.read_key_space()[5] == Drop()
    primary.write(update(Update.DELETE, ks_entry(6, port=None)))
    assert set(backend.read_key_space()) == {5}


def test_one_batch_of_key_space_updates_is_one_atomic_backend_call(primary, backend):
    calls = []
    original = backend.apply_key_space

    def spy(updates):
        calls.append(dict(updates))
        original(updates)

    backend.apply_key_space = spy
    primary.write(*(update(Update.INSERT, ks_entry(b, port=b)) for b in range(100)))
    assert len(calls) == 1
    assert sorted(calls[0]) == list(range(100))


def test_flow_pin_overrides_key_space_in_the_software_target(primary, backend):
    primary.write(update(Update.INSERT, ks_entry(FLOW.bucket(), port=1)),
                  update(Update.INSERT, pin_entry(FLOW.canonical(), port=9, dmac=MAC)))
    assert backend.steer(FLOW, 100) == Forward(9, MAC)
    assert backend.steer(FLOW.reversed(), 60) == Forward(9, MAC)
    primary.write(update(Update.DELETE, pin_entry(FLOW.canonical(), port=None)))
    assert backend.steer(FLOW, 100) == Forward(1, b"\x02\0\0\0\0\x01")


def test_read_single_entry_and_whole_table_in_canonical_form(primary):
    primary.write(*(update(Update.INSERT, ks_entry(b, port=7, dmac=MAC)) for b in (300, 2, 0)))
    single = p4runtime_pb2.Entity(table_entry=ks_entry(300, port=None))
    [entity] = primary.read(single)
    assert entity.table_entry == ks_entry(300, port=7, dmac=MAC)
    assert entity.table_entry.match[0].exact.value == b"\x01\x2c"
    buckets = [e.match[0].exact.value for e in primary.read_table(KS.id)]
    assert buckets == [b"\x00", b"\x02", b"\x01\x2c"]


def test_read_of_missing_entry_is_empty(primary):
    assert primary.read(p4runtime_pb2.Entity(table_entry=ks_entry(8, port=None))) == []


def test_table_id_zero_reads_every_table(primary):
    primary.write(update(Update.INSERT, ks_entry(1)),
                  update(Update.INSERT, pin_entry(FLOW.canonical())))
    tables = sorted(e.table_id for e in primary.read_table(0))
    assert tables == sorted([KS.id, PIN.id])


def test_partial_match_filters_a_read(primary):
    other = FlowKey.of("10.0.0.1", "10.0.0.2", 53, 53, 17)
    primary.write(update(Update.INSERT, pin_entry(FLOW.canonical())),
                  update(Update.INSERT, pin_entry(other.canonical())))
    query = p4runtime_pb2.Entity()
    query.table_entry.table_id = PIN.id
    query.table_entry.match.add(field_id=5).exact.value = b"\x11"
    [entity] = primary.read(query)
    assert entity.table_entry.match[4].exact.value == b"\x11"


def test_padded_values_are_accepted(primary, backend):
    primary.write(update(Update.INSERT, ks_entry(5, raw_bucket=b"\x00\x05")))
    assert set(backend.read_key_space()) == {5}


def test_default_entries_read_back_as_const(primary):
    query = p4runtime_pb2.Entity()
    query.table_entry.table_id = KS.id
    query.table_entry.is_default_action = True
    [entity] = primary.read(query)
    assert entity.table_entry.is_default_action
    assert entity.table_entry.action.action.action_id == KS.const_default_action_id


def test_counter_reads_by_index_and_wildcard(primary, backend):
    backend.steer(FLOW, 100)
    backend.steer(FLOW.reversed(), 50)
    query = p4runtime_pb2.Entity()
    query.counter_entry.counter_id = COUNTER.id
    query.counter_entry.index.index = FLOW.bucket()
    [cell] = primary.read(query)
    assert (cell.counter_entry.data.packet_count, cell.counter_entry.data.byte_count) == (2, 150)
    everything = p4runtime_pb2.Entity()
    everything.counter_entry.counter_id = 0
    cells = primary.read(everything)
    assert len(cells) == 4096
    assert sum(c.counter_entry.data.packet_count for c in cells) == 2


def test_reads_need_no_arbitration(server, connect, primary):
    primary.write(update(Update.INSERT, ks_entry(1)))
    observer = connect()
    assert len(observer.read_table(KS.id)) == 1
