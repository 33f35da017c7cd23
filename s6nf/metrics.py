"""Prometheus metrics: a registry of collectors read at scrape time, and the HTTP endpoint.

Collectors are functions returning samples, so a scrape always shows current values (epoch,
queue depths, map occupancy) without anything being pushed on a hot path. The endpoint is a
small asyncio HTTP/1.1 server answering ``GET /metrics`` in the text exposition format 0.0.4;
any other path is 404 and an unreadable request 400.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

log = logging.getLogger(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
KINDS = ("counter", "gauge", "histogram")
LATENCY_BOUNDS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                  0.5, 1.0, 2.5, 5.0)
"""Upper bounds (seconds) of the latency histograms' buckets, 100 µs to 5 s."""


@dataclass(frozen=True)
class Sample:
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)
    suffix: str = ""
    """Appended to the family's name: a histogram's ``_bucket``, ``_sum`` and ``_count``."""


@dataclass(frozen=True)
class Family:
    name: str
    kind: str
    """counter, gauge or histogram."""
    help: str
    collect: Callable[[], Iterable[Sample]]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Registry:
    def __init__(self) -> None:
        self._families: dict[str, Family] = {}

    def add(self, name: str, kind: str, help_text: str,
            collect: Callable[[], Iterable[Sample]]) -> None:
        if kind not in KINDS:
            raise ValueError(f"metric kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if name in self._families:
            raise ValueError(f"metric {name} registered twice")
        self._families[name] = Family(name, kind, help_text, collect)

    def gauge(self, name: str, help_text: str, value: Callable[[], float]) -> None:
        self.add(name, "gauge", help_text, lambda: [Sample(value())])

    def render(self) -> str:
        lines: list[str] = []
        for family in self._families.values():
            try:
                samples = list(family.collect())
            except Exception:
                log.exception("metric %s failed to collect; left out of this scrape", family.name)
                continue
            lines.append(f"# HELP {family.name} {family.help}")
            lines.append(f"# TYPE {family.name} {family.kind}")
            for s in samples:
                name = family.name + s.suffix
                labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(s.labels.items()))
                lines.append(f"{name}{{{labels}}} {_number(s.value)}" if labels
                             else f"{name} {_number(s.value)}")
        return "\n".join(lines) + "\n"


class Histogram:
    """Observations per label value (e.g. per request kind) in fixed buckets; kept as plain
    counts, so observing costs a few list operations on the path that is timed."""

    def __init__(self, label: str, bounds: tuple[float, ...] = LATENCY_BOUNDS) -> None:
        self.label = label
        self.bounds = bounds
        self._series: dict[str, tuple[list[int], list[float]]] = {}
        """label value → (count per bucket, [sum])."""

    def observe(self, value: str, seconds: float) -> None:
        counts, total = self._series.setdefault(value, ([0] * (len(self.bounds) + 1), [0.0]))
        counts[bisect.bisect_left(self.bounds, seconds)] += 1
        total[0] += seconds

    def count(self, value: str) -> int:
        series = self._series.get(value)
        return 0 if series is None else sum(series[0])

    def samples(self) -> list[Sample]:
        out: list[Sample] = []
        for value, (counts, total) in sorted(self._series.items()):
            running = 0
            for bound, n in zip((*self.bounds, math.inf), counts, strict=True):
                running += n
                le = "+Inf" if math.isinf(bound) else repr(bound)
                out.append(Sample(running, {self.label: value, "le": le}, "_bucket"))
            out.append(Sample(total[0], {self.label: value}, "_sum"))
            out.append(Sample(running, {self.label: value}, "_count"))
        return out


def parse_text(text: str) -> dict[str, float]:
    """A scrape's samples, ``name{labels}`` → value, as rendered (labels sorted); comments
    skipped. For tests and ``s6nf status``, not a general exposition-format parser."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


class MetricsServer:
    """``async with MetricsServer(registry, host, port) as server:`` (port 0 picks one)."""

    def __init__(self, registry: Registry, host: str, port: int) -> None:
        self.registry = registry
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> MetricsServer:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
            parts = head.split(b"\r\n", 1)[0].split()
            if len(parts) != 3 or parts[0] not in (b"GET", b"HEAD"):
                status, body = "400 Bad Request", "expected: GET /metrics\n"
            elif parts[1].split(b"?", 1)[0] != b"/metrics":
                status, body = "404 Not Found", "metrics are at /metrics\n"
            else:
                status, body = "200 OK", self.registry.render()
            data = body.encode()
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {CONTENT_TYPE}\r\n"
                         f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode())
            if parts[:1] != [b"HEAD"]:
                writer.write(data)
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                ConnectionError):
            pass
        finally:
            writer.close()
