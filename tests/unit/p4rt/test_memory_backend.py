import pytest

from s6nf.agent.p4rt import BackendError, Drop, Forward, MemoryBackend
from s6nf.keys import FlowKey

MAC = bytes.fromhex("020000000001")
FLOW = FlowKey.of("192.168.0.1", "10.0.0.1", 1234, 443, 6)


def test_unassigned_bucket_drops_but_still_counts():
    backend = MemoryBackend(buckets=16)
    assert backend.steer(FLOW, 100) == Drop()
    assert backend.read_bucket_counters([FLOW.bucket(16)]) == {FLOW.bucket(16): (1, 100)}


def test_pin_overrides_key_space_for_both_directions():
    backend = MemoryBackend(buckets=16)
    backend.apply_key_space({FLOW.bucket(16): Forward(1, MAC)})
    assert backend.steer(FLOW, 10) == Forward(1, MAC)
    backend.insert_flow_pin(FLOW.canonical(), Drop())
    assert backend.steer(FLOW.reversed(), 10) == Drop()
    backend.delete_flow_pin(FLOW.canonical())
    assert backend.steer(FLOW.reversed(), 10) == Forward(1, MAC)


def test_key_space_batch_with_a_bad_bucket_changes_nothing():
    backend = MemoryBackend(buckets=16)
    with pytest.raises(BackendError, match="bucket 16"):
        backend.apply_key_space({0: Drop(), 16: Drop()})
    assert backend.read_key_space() == {}


def test_pins_refuse_duplicates_missing_keys_and_overflow():
    backend = MemoryBackend(max_pins=1)
    backend.insert_flow_pin(b"a" * 13, Drop())
    with pytest.raises(BackendError, match="already exists"):
        backend.insert_flow_pin(b"a" * 13, Drop())
    with pytest.raises(BackendError, match="full"):
        backend.insert_flow_pin(b"b" * 13, Drop())
    with pytest.raises(BackendError, match="no flow pin"):
        backend.modify_flow_pin(b"b" * 13, Drop())
    with pytest.raises(BackendError, match="no flow pin"):
        backend.delete_flow_pin(b"b" * 13)


@pytest.mark.parametrize(("port", "dmac"), [(512, MAC), (-1, MAC), (1, b"\x00" * 5)])
def test_forward_checks_its_fields(port, dmac):
    with pytest.raises(ValueError):
        Forward(port, dmac)
