import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s6nf.keys import FlowKey, bucket_of_bytes, check_buckets, unpack_canonical

ports = st.integers(0, 0xFFFF)
addrs = st.integers(0, 0xFFFFFFFF)


@given(addrs, addrs, ports, ports, st.sampled_from([6, 17]))
def test_both_directions_share_key_hash_and_bucket(src, dst, sport, dport, proto):
    fwd = FlowKey(src, dst, sport, dport, proto)
    assert fwd.canonical() == fwd.reversed().canonical()
    assert fwd.bucket() == fwd.reversed().bucket()
    assert len(fwd.canonical()) == 13


def test_canonical_layout_is_lower_endpoint_first_network_order():
    key = FlowKey.of("10.0.0.2", "10.0.0.1", 80, 1234, 6)
    assert key.canonical() == bytes([10, 0, 0, 1, 10, 0, 0, 2, 0x04, 0xD2, 0, 80, 6])
    assert unpack_canonical(key.canonical()) == key.reversed()


def test_same_address_orders_by_port():
    key = FlowKey.of("10.0.0.1", "10.0.0.1", 9000, 53, 17)
    assert key.canonical()[8:12] == bytes([0, 53, 0x23, 0x28])


def test_hash_is_zlib_crc32_and_bucket_masks_it():
    key = FlowKey.of("192.168.1.1", "8.8.8.8", 5353, 53, 17)
    assert key.hash() == zlib.crc32(key.canonical())
    assert key.bucket(4096) == key.hash() % 4096
    assert bucket_of_bytes(key.canonical(), 16) == key.hash() % 16


@pytest.mark.parametrize("bad", [0, 3, 4095, 1 << 21])
def test_bucket_count_must_be_power_of_two(bad):
    with pytest.raises(ValueError, match="power of two"):
        check_buckets(bad)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("10.0.0.1", "10.0.0.2", 70000, 1, 6), "sport"),
        (("10.0.0.1", "10.0.0.2", 1, -1, 6), "dport"),
        (("10.0.0.1", "10.0.0.2", 1, 1, 256), "proto"),
    ],
)
def test_out_of_range_fields_are_refused(args, field):
    with pytest.raises(ValueError, match=field):
        FlowKey.of(*args)


def test_bad_canonical_length_is_refused():
    with pytest.raises(ValueError, match="13 bytes"):
        unpack_canonical(b"\x00" * 12)
