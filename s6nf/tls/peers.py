"""Who is calling: the peer's certificate, checked against the roles a service admits.

The TLS handshake already refuses a peer without a certificate of our CA (gRPC core logs
the failed handshake; no handler runs). This interceptor covers the peers that got through:
it reads the certificate gRPC verified, refuses a role the service does not serve with
PERMISSION_DENIED before the handler runs, and logs every refusal with the peer's address,
name and role.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Iterable
from typing import Any

import grpc
from cryptography import x509
from cryptography.x509.oid import NameOID

from s6nf.tls.config import subject_field

log = logging.getLogger(__name__)

CONTROLLER_API = ("agent", "client")
"""Agents register and heartbeat; the operator's CLI scales and asks for status."""
AGENT_CONTROL = ("controller",)
STATE_CHANNEL = ("agent",)
P4RUNTIME = ("controller", "client")
"""The controller writes steering; the operator may inspect it with p4runtime-shell."""


@functools.lru_cache(maxsize=256)
def _identity(pem: bytes) -> tuple[str, str]:
    cert = x509.load_pem_x509_certificate(pem)
    return (subject_field(cert, NameOID.COMMON_NAME),
            subject_field(cert, NameOID.ORGANIZATIONAL_UNIT_NAME))


def peer_identity(context: Any) -> tuple[str, str] | None:
    """(name, role) of the peer's verified certificate, None if it presented none."""
    pems = context.auth_context().get("x509_pem_cert")
    return _identity(pems[0]) if pems else None


class PeerCheck:
    """Admits peers whose certificate's role is one of ``roles`` on ``service``."""

    def __init__(self, service: str, roles: Iterable[str]) -> None:
        self.service = service
        self.roles = tuple(roles)
        self.refused = 0

    def refusal(self, context: Any, method: str) -> str | None:
        """Why the caller is refused (logged), or None when it is admitted."""
        identity = peer_identity(context)
        if identity is None:
            reason = "no client certificate"
        elif identity[1] not in self.roles:
            reason = (f"certificate {identity[0]!r} has role {identity[1]!r}; "
                      f"{self.service} admits {', '.join(self.roles)}")
        else:
            return None
        self.refused += 1
        log.warning("%s refused %s from %s: %s", self.service, method, context.peer(), reason)
        return reason


def _rebuild(handler: grpc.RpcMethodHandler, behaviour: Callable[..., Any]) -> Any:
    kind = ("stream" if handler.request_streaming else "unary") + "_" + (
        "stream" if handler.response_streaming else "unary")
    make = getattr(grpc, f"{kind}_rpc_method_handler")
    return make(behaviour, request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)


def _behaviour(handler: grpc.RpcMethodHandler) -> Callable[..., Any]:
    kinds = (handler.unary_unary, handler.unary_stream, handler.stream_unary,
             handler.stream_stream)
    fn: Callable[..., Any] = next(f for f in kinds if f is not None)
    return fn


class AioPeerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """``PeerCheck`` before every call of an asyncio server."""

    def __init__(self, check: PeerCheck) -> None:
        self.check = check

    async def intercept_service(self, continuation: Callable[..., Any],
                                details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        if handler is None:
            return None
        inner = _behaviour(handler)
        method = details.method
        check = self.check

        if inspect.isasyncgenfunction(inner):
            async def streaming(request: Any, context: grpc.aio.ServicerContext) -> Any:
                reason = check.refusal(context, method)
                if reason is not None:
                    # Ending the stream with a status, not abort(): see ``call`` below.
                    context.set_code(grpc.StatusCode.PERMISSION_DENIED)
                    context.set_details(reason)
                    return
                async for item in inner(request, context):
                    yield item

            return _rebuild(handler, streaming)

        streamed = handler.request_streaming
        """A refused streaming call ends with a status instead of abort(): abort's exception,
        raised while the client still writes, sometimes reached the client as INTERNAL."""

        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            reason = check.refusal(context, method)
            if reason is not None:
                if not streamed:
                    await context.abort(grpc.StatusCode.PERMISSION_DENIED, reason)
                context.set_code(grpc.StatusCode.PERMISSION_DENIED)
                context.set_details(reason)
                return None
            return await inner(request, context)

        return _rebuild(handler, call)


class SyncPeerInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """``PeerCheck`` before every call of a thread-pool server."""

    def __init__(self, check: PeerCheck) -> None:
        self.check = check

    def intercept_service(self, continuation: Callable[..., Any],
                          details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(details)
        if handler is None:
            return None
        inner = _behaviour(handler)
        method = details.method
        check = self.check

        def call(request: Any, context: grpc.ServicerContext) -> Any:
            reason = check.refusal(context, method)
            if reason is not None:
                context.abort(grpc.StatusCode.PERMISSION_DENIED, reason)
            return inner(request, context)

        return _rebuild(handler, call)
