"""gRPC servers' ports and clients' channels, with mutual TLS when a component has TLS
material and in the clear when it has none (``None``: insecure mode, for local tests)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc

from s6nf.tls.config import Material, TlsError

Options = Sequence[tuple[str, Any]]


def server_credentials(material: Material) -> grpc.ServerCredentials:
    """Only peers with a certificate of our CA complete the handshake."""
    return grpc.ssl_server_credentials([(material.key, material.chain)],
                                       root_certificates=material.root,
                                       require_client_auth=True)


def channel_credentials(material: Material) -> grpc.ChannelCredentials:
    """Trust only our CA for the server; present our own certificate."""
    return grpc.ssl_channel_credentials(material.root, material.key, material.chain)


def add_port(server: Any, bind: str, material: Material | None) -> int:
    """Listen on ``bind`` (``host:port``) on a sync or aio server; returns the bound port
    (0 if binding failed). With TLS, refuses a host the certificate does not name, which
    clients would refuse anyway."""
    if material is None:
        return int(server.add_insecure_port(bind))
    host = bind.rpartition(":")[0]
    if not material.covers(host):
        raise TlsError(f"the certificate of {material.name!r} does not name {host} (it names "
                       f"{', '.join(sorted(material.ips)) or 'no IP address'}); clients would "
                       "refuse it: issue one with this address (docs/security.md)")
    return int(server.add_secure_port(bind, server_credentials(material)))


def aio_channel(address: str, material: Material | None, options: Options = ()
                ) -> grpc.aio.Channel:
    if material is None:
        return grpc.aio.insecure_channel(address, options=list(options))
    return grpc.aio.secure_channel(address, channel_credentials(material), options=list(options))


def sync_channel(address: str, material: Material | None, options: Options = ()
                 ) -> grpc.Channel:
    if material is None:
        return grpc.insecure_channel(address, options=list(options))
    return grpc.secure_channel(address, channel_credentials(material), options=list(options))


def aio_server(material: Material | None, service: str, roles: Sequence[str],
               options: Options = ()) -> grpc.aio.Server:
    """An asyncio server; with TLS, every call's peer is checked against ``roles``."""
    from s6nf.tls.peers import AioPeerInterceptor, PeerCheck

    interceptors = [] if material is None else [AioPeerInterceptor(PeerCheck(service, roles))]
    return grpc.aio.server(interceptors=interceptors, options=list(options))
