"""A small certificate authority for the control plane's mutual TLS.

One CA key signs one certificate per component: the controller, the switch's P4Runtime
server, each agent (named after its nf host) and the operator's CLI (``client``). A
certificate's common name is the component's name and its organizational unit its role,
which servers check (``s6nf.tls.peers``). Keys are ECDSA P-256: small, fast to make, and
spoken by gRPC's TLS.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ORGANIZATION = "s6nf"
ROLES = ("controller", "switch", "agent", "client")
CA_CERT, CA_KEY = "ca.crt", "ca.key"
DEFAULT_DAYS = 365
_AGENT_NAME = re.compile(r"^nf[0-9]+$")
LOOPBACK = ("127.0.0.1",)


def role_of(name: str) -> str:
    """The role of component ``name``: ``nf<i>`` is an agent, the others are their own role."""
    if _AGENT_NAME.match(name):
        return "agent"
    if name in ("controller", "switch", "client"):
        return name
    raise ValueError(f"unknown component name {name!r}; one of controller, switch, client, "
                     "nf<instance>")


@dataclass(frozen=True)
class Issued:
    """One component's certificate and key as written to the PKI directory."""

    name: str
    """Component name, the certificate's common name and the files' stem."""
    cert: Path
    key: Path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _name(common_name: str, role: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class CertificateAuthority:
    """A CA key and certificate; ``issue`` signs component certificates."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
        self.key = key
        self.cert = cert

    @classmethod
    def create(cls, common_name: str = "s6nf CA", days: int = DEFAULT_DAYS
               ) -> CertificateAuthority:
        key = ec.generate_private_key(ec.SECP256R1())
        name = _name(common_name, "ca")
        now = _now()
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=days))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                             False, False), critical=True)
                .sign(key, hashes.SHA256()))
        return cls(key, cert)

    @classmethod
    def load(cls, directory: Path) -> CertificateAuthority:
        key_path, cert_path = directory / CA_KEY, directory / CA_CERT
        for path in (key_path, cert_path):
            if not path.is_file():
                raise FileNotFoundError(f"no {path}: the CA is missing; run 's6nf pki init "
                                        f"--dir {directory}' on a fresh directory")
        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_path} is not an EC key; this CA issues with ECDSA only")
        return cls(key, x509.load_pem_x509_certificate(cert_path.read_bytes()))

    def save(self, directory: Path) -> None:
        _write_key(directory / CA_KEY, self.key)
        _write_cert(directory / CA_CERT, self.cert)

    def issue(self, name: str, ips: Iterable[str] = LOOPBACK, dns: Iterable[str] = ("localhost",),
              days: int = DEFAULT_DAYS, role: str | None = None
              ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        """A key and a certificate for component ``name`` valid for ``ips`` and ``dns``, for
        both TLS server and client use (every component is a client of another)."""
        role = role or role_of(name)
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        key = ec.generate_private_key(ec.SECP256R1())
        sans: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(ip))
                                        for ip in dict.fromkeys(ips)]
        sans += [x509.DNSName(d) for d in dict.fromkeys(dns)]
        now = _now()
        cert = (x509.CertificateBuilder().subject_name(_name(name, role))
                .issuer_name(self.cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=days))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                      ExtendedKeyUsageOID.CLIENT_AUTH]),
                               critical=False)
                .sign(self.key, hashes.SHA256()))
        return key, cert

    def issue_to(self, directory: Path, name: str, ips: Iterable[str] = LOOPBACK,
                 days: int = DEFAULT_DAYS) -> Issued:
        """``issue`` and write ``<name>.crt`` and ``<name>.key`` (mode 0600) to ``directory``."""
        key, cert = self.issue(name, ips, days=days)
        issued = Issued(name, directory / f"{name}.crt", directory / f"{name}.key")
        _write_key(issued.key, key)
        _write_cert(issued.cert, cert)
        return issued


def init_pki(directory: Path, components: dict[str, list[str]], days: int = DEFAULT_DAYS
             ) -> list[Issued]:
    """Make a CA in ``directory`` (kept if there is one) and a certificate for each component
    (name → IP addresses it is reached at; loopback is always added)."""
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / CA_CERT).exists():
        ca = CertificateAuthority.load(directory)
    else:
        ca = CertificateAuthority.create(days=days)
        ca.save(directory)
    return [ca.issue_to(directory, name, [*ips, *LOOPBACK], days)
            for name, ips in components.items()]
