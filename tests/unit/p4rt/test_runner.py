import pytest

from s6nf.agent.p4rt import MemoryBackend, serve


def test_a_backend_of_another_size_than_the_p4info_is_refused():
    with pytest.raises(ValueError, match=r"1024 buckets.*4096"):
        serve(MemoryBackend(buckets=1024), "127.0.0.1:0")
    with pytest.raises(ValueError, match="2048 flow pins"):
        serve(MemoryBackend(max_pins=2048), "127.0.0.1:0")


def test_port_zero_binds_an_ephemeral_port():
    with serve(MemoryBackend(), "127.0.0.1:0") as server:
        assert server.port > 0
        assert server.address == f"127.0.0.1:{server.port}"
