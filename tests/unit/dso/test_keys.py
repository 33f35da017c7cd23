import pytest

from s6nf.agent.dso.keys import BytesKey, FlowKey, IpKey, bucket_of_key, key_bytes
from s6nf.keys import bucket_of_bytes


def test_every_key_class_hashes_its_canonical_bytes_like_flows():
    flow = FlowKey.of("10.0.0.2", "10.0.0.1", 80, 1234, 6)
    ip = IpKey.of("192.168.1.7")
    raw = BytesKey(b"pool-3")
    assert key_bytes(flow) == flow.canonical() == flow.reversed().canonical()
    assert key_bytes(ip) == bytes([192, 168, 1, 7]) and str(ip) == "192.168.1.7"
    assert key_bytes(raw) == b"pool-3" == key_bytes(b"pool-3")
    for key in (flow, ip, raw):
        assert bucket_of_key(key, 4096) == bucket_of_bytes(key_bytes(key), 4096)


def test_out_of_range_ip_is_refused():
    with pytest.raises(ValueError, match="4294967296"):
        IpKey.of(1 << 32)
