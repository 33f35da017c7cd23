"""Certificates for the channel tests: our CA, a rogue CA with look-alike certificates, and
the ways a client can come without a valid certificate."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import grpc
import pytest

from s6nf.tls import Material, TlsConfig
from s6nf.tls.channels import channel_credentials
from s6nf.tls.pki import init_pki

COMPONENTS = ("controller", "switch", "client", "nf0", "nf1")
BAD_CLIENTS = ("no TLS", "certificate of another CA", "no client certificate")
TIMEOUT = 5.0


class Pki:
    def __init__(self, good: Path, rogue: Path) -> None:
        self.good = good
        self.rogue = rogue

    def material(self, name: str) -> Material:
        return TlsConfig.in_dir(self.good, name).load()

    def bad_credentials(self, how: str, name: str) -> grpc.ChannelCredentials | None:
        """Credentials of a client that poses as ``name`` without a valid certificate: None
        (plaintext), a certificate with the same name and role from another CA (trusting
        our CA, so only the server's check can stop it), or TLS without a certificate."""
        ours = self.material(name)
        if how == "no TLS":
            return None
        if how == "certificate of another CA":
            rogue = TlsConfig.in_dir(self.rogue, name).load()
            return channel_credentials(dataclasses.replace(rogue, root=ours.root))
        assert how == "no client certificate", how
        return grpc.ssl_channel_credentials(ours.root)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    good, rogue = tmp_path_factory.mktemp("pki"), tmp_path_factory.mktemp("rogue")
    init_pki(good, {name: [] for name in COMPONENTS})
    init_pki(rogue, {name: [] for name in COMPONENTS})
    return Pki(good, rogue)


def aio_channel(address: str, credentials: grpc.ChannelCredentials | None) -> grpc.aio.Channel:
    if credentials is None:
        return grpc.aio.insecure_channel(address)
    return grpc.aio.secure_channel(address, credentials)
