"""Prometheus metrics: a registry of collectors read at scrape time, and the HTTP endpoint.

Collectors are functions returning samples, so a scrape always shows current values (epoch,
queue depths, map occupancy) without anything being pushed on a hot path. The endpoint is a
small asyncio HTTP/1.1 server answering ``GET /metrics`` in the text exposition format 0.0.4;
any other path is 404 and an unreadable request 400.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

log = logging.getLogger(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class Sample:
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Family:
    name: str
    kind: str
    """counter or gauge."""
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
        if kind not in ("counter", "gauge"):
            raise ValueError(f"metric kind must be counter or gauge, got {kind!r}")
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
                labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(s.labels.items()))
                lines.append(f"{family.name}{{{labels}}} {_number(s.value)}" if labels
                             else f"{family.name} {_number(s.value)}")
        return "\n".join(lines) + "\n"


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
