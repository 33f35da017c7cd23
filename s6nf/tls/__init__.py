"""Mutual TLS for the control plane: a small CA, each component's files, gRPC credentials
and the peer check (docs/security.md)."""

from s6nf.tls.channels import add_port, aio_channel, aio_server, sync_channel
from s6nf.tls.config import Material, TlsConfig, TlsError, load_dir
from s6nf.tls.peers import AioPeerInterceptor, PeerCheck, SyncPeerInterceptor

__all__ = ["AioPeerInterceptor", "Material", "PeerCheck", "SyncPeerInterceptor", "TlsConfig",
           "TlsError", "add_port", "aio_channel",
           "aio_server", "load_dir", "sync_channel"]
