"""Control-plane RPCs as JSON over gRPC unary calls (controller ↔ agents, CLI ↔ controller).

The control plane carries a few messages a second, so readability wins over compactness: each
method takes and returns a JSON object. There is no protoc step: methods are registered with
a generic handler. A request that is not a JSON object, or that a handler refuses with
``ValueError``, is answered INVALID_ARGUMENT with the reason; ``LookupError`` becomes
NOT_FOUND and ``RpcRefused`` carries its own code.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import grpc

from s6nf.tls import Material, aio_channel, sync_channel

log = logging.getLogger(__name__)
FAST_RECONNECT: tuple[tuple[str, int], ...] = (
    ("grpc.initial_reconnect_backoff_ms", 100), ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 200))
"""Channel options for a peer that must be heard again at once when it comes back (gRPC
otherwise backs off up to minutes): an agent's heartbeats to a restarted controller."""

Json = dict[str, Any]
Handler = Callable[[Json], Awaitable[Json]]
SyncHandler = Callable[[Json], Json]


class RpcRefused(Exception):
    """A handler's refusal with an explicit gRPC status code."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class RpcError(RuntimeError):
    """A call failed; ``code`` is the gRPC status, the message names method and reason."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def _decode(data: bytes) -> Json:
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"request is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ValueError(f"request must be a JSON object, got {type(value).__name__}")
    return value


def _encode(value: Json) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def generic_handler(service: str, methods: Mapping[str, Handler]) -> grpc.GenericRpcHandler:
    """A gRPC handler serving ``/<service>/<method>`` for each JSON handler."""

    def wrap(name: str, fn: Handler) -> Any:
        async def call(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            try:
                return _encode(await fn(_decode(request)))
            except RpcRefused as exc:
                await context.abort(exc.code, str(exc))
            except ValueError as exc:
                log.info("%s.%s refused: %s", service, name, exc)
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            except LookupError as exc:
                await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
            raise AssertionError("unreachable: context.abort raises")

        return grpc.unary_unary_rpc_method_handler(call)

    return grpc.method_handlers_generic_handler(
        service, {name: wrap(name, fn) for name, fn in methods.items()})


def sync_generic_handler(service: str, methods: Mapping[str, SyncHandler]
                         ) -> grpc.GenericRpcHandler:
    """``generic_handler`` for a thread-pool server: the handlers run in its threads."""

    def wrap(name: str, fn: SyncHandler) -> Any:
        def call(request: bytes, context: grpc.ServicerContext) -> bytes:
            try:
                return _encode(fn(_decode(request)))
            except RpcRefused as exc:
                context.abort(exc.code, str(exc))
            except ValueError as exc:
                log.info("%s.%s refused: %s", service, name, exc)
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            except LookupError as exc:
                context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
            raise AssertionError("unreachable: context.abort raises")

        return grpc.unary_unary_rpc_method_handler(call)

    return grpc.method_handlers_generic_handler(
        service, {name: wrap(name, fn) for name, fn in methods.items()})


class JsonClient:
    """Calls JSON methods of one service at one address; the channel opens on first use,
    with mutual TLS when ``tls`` is given."""

    def __init__(self, address: str, service: str, timeout_s: float = 5.0,
                 tls: Material | None = None,
                 options: Sequence[tuple[str, int | str]] = ()) -> None:
        self.address = address
        self.service = service
        self.timeout_s = timeout_s
        self.tls = tls
        self.options = tuple(options)
        """gRPC channel options (e.g. ``FAST_RECONNECT``)."""
        self._channel: grpc.aio.Channel | None = None

    async def call(self, method: str, request: Json | None = None,
                   timeout_s: float | None = None) -> Json:
        if self._channel is None:
            self._channel = aio_channel(self.address, self.tls, self.options)
        stub = self._channel.unary_unary(f"/{self.service}/{method}")
        try:
            reply = await stub(_encode(request or {}), timeout=timeout_s or self.timeout_s)
        except grpc.aio.AioRpcError as exc:
            raise RpcError(exc.code(), f"{self.service}.{method} at {self.address}: "
                                       f"{exc.code().name}: {exc.details()}") from exc
        return _decode(reply)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None


class SyncJsonClient:
    """``JsonClient`` for a thread that has no event loop of its own: blocking calls."""

    def __init__(self, address: str, service: str, timeout_s: float = 5.0,
                 tls: Material | None = None,
                 options: Sequence[tuple[str, int | str]] = ()) -> None:
        self.address = address
        self.service = service
        self.timeout_s = timeout_s
        self._channel = sync_channel(address, tls, options)

    def call(self, method: str, request: Json | None = None,
             timeout_s: float | None = None) -> Json:
        stub = self._channel.unary_unary(f"/{self.service}/{method}")
        try:
            reply = stub(_encode(request or {}), timeout=timeout_s or self.timeout_s)
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
            details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
            raise RpcError(code, f"{self.service}.{method} at {self.address}: "
                                 f"{code.name}: {details}") from exc
        return _decode(reply)

    def close(self) -> None:
        self._channel.close()


def field(request: Json, name: str, kind: type | tuple[type, ...], *,
          optional: bool = False) -> Any:
    """``request[name]`` checked to be of ``kind`` (bools are not numbers here)."""
    if name not in request:
        if optional:
            return None
        raise ValueError(f"missing field {name!r}")
    value = request[name]
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise ValueError(f"field {name!r} must be {names}, got {value!r}")
    return value
