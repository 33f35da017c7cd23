"""EbpfStorage on the monitor's real ``flows`` map, filled by packets through BPF_PROG_TEST_RUN."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s6nf.agent.dso.ebpf_storage import EbpfStorage
from s6nf.agent.dso.errors import StorageFull
from s6nf.agent.structs import FlowKeyC, FlowStats, FlowStatsRecord, NfConfigRecord
from tests.datapath.monitor_flows import monitor_storage, send, udp_flow, udp_key

pytestmark = pytest.mark.root

MAX_FLOWS = 64


@pytest.fixture(scope="module")
def loaded():
    with monitor_storage(MAX_FLOWS) as pair:
        yield pair


@pytest.fixture
def store(loaded):
    _, storage = loaded
    for key in storage.snapshot():
        storage.delete(key)
    yield storage
    for key in storage.snapshot():
        storage.delete(key)


@pytest.fixture
def prog(loaded):
    return loaded[0]


def test_datapath_entries_are_the_objects_and_views_are_live(prog, store):
    packet, key = udp_flow(1)
    send(prog, packet, times=3)
    assert store.snapshot() == [key] and len(store) == 1
    view = store.get(key)
    assert view is not None and isinstance(view, FlowStatsRecord)
    assert (view.packets, view.bytes) == (3, 3 * len(packet))
    send(prog, packet)
    assert view.packets == 4
    view.tcp_flags = 0x80
    send(prog, packet)
    copy = store.read(key)
    assert copy is not None and (copy.packets, copy.tcp_flags) == (5, 0x80)
    assert view.to_bytes() == copy.to_bytes()
    assert view == copy and copy == view
    assert store.get(udp_flow(2)[1]) is None


def test_export_takes_entries_out_and_import_puts_them_back_for_the_datapath(prog, store):
    flows = [udp_flow(i) for i in range(10)]
    for i, (packet, _) in enumerate(flows):
        send(prog, packet, times=i + 1)
    before = {k: v.to_bytes() for k, v in store.items()}
    wanted = [key for _, key in flows[:6]] + [udp_flow(99)[1]]
    out = store.export(wanted)
    assert dict(out) == {key: before[key] for _, key in flows[:6]}
    assert sorted(store.snapshot()) == sorted(key for _, key in flows[6:])
    store.import_(out)
    assert {k: v.to_bytes() for k, v in store.items()} == before
    send(prog, flows[0][0])
    record = store.read(flows[0][1])
    assert record is not None and record.packets == 2


def test_take_leaves_a_view_dead_instead_of_recreating_the_entry(prog, store):
    packet, key = udp_flow(3)
    send(prog, packet)
    view = store.get(key)
    assert view is not None
    data = store.take(key)
    assert data is not None and FlowStatsRecord.from_bytes(data).packets == 1
    assert store.take(key) is None
    with pytest.raises(KeyError, match="gone"):
        view.packets = 7
    assert store.get(key) is None
    store.put(key, data)
    assert store.read(key) == FlowStatsRecord.from_bytes(data)
    assert store.delete(key) and not store.delete(key)


def test_create_keeps_an_entry_the_datapath_made(prog, store):
    packet, key = udp_flow(4)
    send(prog, packet, times=2)
    assert store.create(key).packets == 2
    fresh = udp_flow(5)[1]
    assert store.create(fresh).to_bytes() == FlowStatsRecord().to_bytes()


def test_a_full_map_refuses_a_whole_import_and_keeps_what_it_had(prog, store):
    for i in range(MAX_FLOWS - 2):
        send(prog, udp_flow(i)[0])
    before = {k: v.to_bytes() for k, v in store.items()}
    incoming = [(udp_flow(1000 + i)[1], FlowStatsRecord(packets=i).to_bytes()) for i in range(5)]
    with pytest.raises(StorageFull, match=r"flows: no room for 5 imported entries \(2 fitted"):
        store.import_(incoming)
    assert {k: v.to_bytes() for k, v in store.items()} == before
    store.import_(incoming[:2])
    with pytest.raises(StorageFull, match="max_entries 64"):
        store.put(udp_flow(2000)[1], bytes(48))
    with pytest.raises(StorageFull, match="new key"):
        store.create(udp_flow(2001)[1])


def test_wrong_sizes_name_the_offending_value(prog, store):
    with pytest.raises(ValueError, match="13 canonical bytes, got 4: 01020304"):
        store.get(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="flow_stats is 48 bytes, got 3"):
        store.import_([(udp_flow(1)[1], b"abc")])
    assert store.snapshot() == []


def test_a_map_whose_values_are_not_the_record_is_refused(prog):
    with prog.map("flows", FlowKeyC, FlowStats) as flows, \
            pytest.raises(ValueError, match="values are 48 bytes, record NfConfigRecord"):
        EbpfStorage(flows, NfConfigRecord)


U64S = st.integers(0, (1 << 64) - 1)
RECORDS = st.builds(FlowStatsRecord, U64S, U64S, U64S, U64S, U64S)


@settings(max_examples=30, deadline=None)
@given(entries=st.dictionaries(st.integers(0, 10_000), RECORDS, max_size=MAX_FLOWS))
def test_records_come_out_of_the_map_as_they_went_in(loaded, entries):
    _, storage = loaded
    for key in storage.snapshot():
        storage.delete(key)
    wire = {udp_key(i): r.to_bytes() for i, r in entries.items()}
    storage.import_(wire.items())
    assert {k: v.to_bytes() for k, v in storage.items()} == wire
    assert dict(storage.export(list(wire))) == wire
    assert len(storage) == 0
