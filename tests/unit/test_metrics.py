"""The metrics registry's text format and the HTTP endpoint's answers."""

import asyncio

import pytest

from s6nf.metrics import Histogram, MetricsServer, Registry, Sample, parse_text


def registry() -> Registry:
    r = Registry()
    r.gauge("s6nf_test_epoch", "The epoch.", lambda: 3)
    r.add("s6nf_test_total", "counter", "Things by kind.",
          lambda: [Sample(2, {"kind": 'a"b'}), Sample(0.5, {"kind": "c"})])

    def broken():
        raise RuntimeError("no map")

    r.add("s6nf_test_broken", "gauge", "Fails to collect.", broken)
    return r


def test_text_format_with_help_type_labels_and_escaping():
    text = registry().render()
    assert "# HELP s6nf_test_epoch The epoch.\n# TYPE s6nf_test_epoch gauge\ns6nf_test_epoch 3\n" \
        in text
    assert 's6nf_test_total{kind="a\\"b"} 2' in text
    assert 's6nf_test_total{kind="c"} 0.5' in text
    assert "s6nf_test_broken" not in text


def test_bad_registrations_are_refused():
    r = Registry()
    r.gauge("x", "x", lambda: 1)
    with pytest.raises(ValueError, match="twice"):
        r.gauge("x", "x", lambda: 1)
    with pytest.raises(ValueError, match="counter, gauge, histogram"):
        r.add("y", "summary", "y", lambda: [])


def test_a_histogram_renders_cumulative_buckets_sum_and_count():
    h = Histogram("kind", bounds=(0.001, 0.01))
    for seconds in (0.0005, 0.001, 0.005, 2.0):
        h.observe("call", seconds)
    h.observe("fetch", 0.02)
    r = Registry()
    r.add("s6nf_test_seconds", "histogram", "Latency.", h.samples)
    m = parse_text(r.render())
    assert "# TYPE s6nf_test_seconds histogram" in r.render()
    assert m['s6nf_test_seconds_bucket{kind="call",le="0.001"}'] == 2
    assert m['s6nf_test_seconds_bucket{kind="call",le="0.01"}'] == 3
    assert m['s6nf_test_seconds_bucket{kind="call",le="+Inf"}'] == 4
    assert m['s6nf_test_seconds_count{kind="call"}'] == 4 == h.count("call")
    assert m['s6nf_test_seconds_sum{kind="call"}'] == pytest.approx(2.0065)
    assert m['s6nf_test_seconds_bucket{kind="fetch",le="0.01"}'] == 0
    assert m['s6nf_test_seconds_count{kind="fetch"}'] == 1


async def fetch(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    data = await reader.read()
    writer.close()
    return data


@pytest.mark.parametrize(("request_bytes", "status"), [
    (b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", b"200 OK"),
    (b"GET /other HTTP/1.1\r\n\r\n", b"404 Not Found"),
    (b"POST /metrics HTTP/1.1\r\n\r\n", b"400 Bad Request"),
    (b"garbage\r\n\r\n", b"400 Bad Request"),
])
def test_the_endpoint_answers(request_bytes, status):
    async def body():
        async with MetricsServer(registry(), "127.0.0.1", 0) as server:
            return await fetch(server.port, request_bytes)

    reply = asyncio.run(body())
    assert reply.split(b"\r\n", 1)[0] == b"HTTP/1.1 " + status
    if status == b"200 OK":
        assert b"s6nf_test_epoch 3" in reply


def test_slow_path_metrics_show_punted_packets_by_outcome_and_the_backlog():
    from types import SimpleNamespace

    from s6nf.agent.process import slow_path_metrics
    from s6nf.metrics import Registry
    from s6nf.nfs.slowpath import SlowPathCounters

    runtime = SimpleNamespace(slow=None)
    registry = Registry()
    slow_path_metrics(registry, runtime)  # type: ignore[arg-type]
    assert "s6nf_nf_backlog 0" in registry.render()
    runtime.slow = SimpleNamespace(counters=SlowPathCounters(punted=7, reinjected=5,
                                                             overflowed=2), backlog=3)
    text = registry.render()
    assert 's6nf_nf_punted_total{outcome="punted"} 7' in text
    assert 's6nf_nf_punted_total{outcome="overflowed"} 2' in text
    assert "s6nf_nf_backlog 3" in text
