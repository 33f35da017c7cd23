"""Which CA, certificate and key a component uses, checked before anything starts.

``TlsConfig.in_dir(DIR, NAME)`` names ``DIR/ca.crt``, ``DIR/NAME.crt`` and ``DIR/NAME.key``
(the layout ``s6nf pki init`` writes, docs/security.md). ``load()`` refuses, naming the file
and what to do: a missing or unreadable file, a certificate not signed by the CA, one that is
expired or not yet valid, a key that does not belong to the certificate.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from s6nf.tls.pki import CA_CERT


class TlsError(ValueError):
    """The TLS files of a component are missing or wrong; the message says which and why."""


def not_after(cert: x509.Certificate) -> datetime.datetime:
    value = getattr(cert, "not_valid_after_utc", None)
    if isinstance(value, datetime.datetime):
        return value
    return cert.not_valid_after.replace(tzinfo=datetime.UTC)


def not_before(cert: x509.Certificate) -> datetime.datetime:
    value = getattr(cert, "not_valid_before_utc", None)
    if isinstance(value, datetime.datetime):
        return value
    return cert.not_valid_before.replace(tzinfo=datetime.UTC)


def subject_field(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str:
    values = cert.subject.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""


def signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """Whether ``ca``'s key signed ``cert`` (ECDSA or RSA PKCS#1 v1.5)."""
    if cert.issuer != ca.subject or cert.signature_hash_algorithm is None:
        return False
    key = ca.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes,
                       ec.ECDSA(cert.signature_hash_algorithm))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                       cert.signature_hash_algorithm)
        else:
            return False
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True)
class Material:
    """A component's loaded and checked TLS material, as gRPC's credentials take it."""

    root: bytes
    """PEM of the CA certificate: the only issuer trusted for peers."""
    key: bytes = field(repr=False)
    """PEM of the private key (never in a repr or a log)."""
    chain: bytes
    """PEM of the component's certificate."""
    name: str
    """The certificate's common name."""
    role: str
    """The certificate's organizational unit (controller, switch, agent, client)."""
    ips: frozenset[str]
    """IP addresses in the certificate's subject alternative names."""

    def covers(self, host: str) -> bool:
        """Whether a client that dials ``host`` will accept this certificate (IPs only; a
        name or an unspecified address is not checked here)."""
        try:
            ip = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return True
        return ip.is_unspecified or str(ip) in self.ips


@dataclass(frozen=True)
class TlsConfig:
    """Paths of the CA certificate and a component's own certificate and key."""

    ca: Path
    """PEM of the CA certificate that signs every component's certificate."""
    cert: Path
    """PEM of this component's certificate."""
    key: Path
    """PEM of this component's private key (unencrypted)."""

    @classmethod
    def in_dir(cls, directory: Path, name: str) -> TlsConfig:
        return cls(directory / CA_CERT, directory / f"{name}.crt", directory / f"{name}.key")

    def load(self, now: datetime.datetime | None = None) -> Material:
        now = now or datetime.datetime.now(datetime.UTC)
        ca_pem, cert_pem, key_pem = (self._read(p) for p in (self.ca, self.cert, self.key))
        ca = self._cert(self.ca, ca_pem)
        cert = self._cert(self.cert, cert_pem)
        for path, c in ((self.ca, ca), (self.cert, cert)):
            if not not_before(c) <= now <= not_after(c):
                raise TlsError(f"{path} is valid from {not_before(c):%Y-%m-%d %H:%M} to "
                               f"{not_after(c):%Y-%m-%d %H:%M} UTC, not now; issue a new one")
        if not signed_by(cert, ca):
            raise TlsError(f"{self.cert} (issuer {cert.issuer.rfc4514_string()}) is not signed "
                           f"by the CA in {self.ca} ({ca.subject.rfc4514_string()}); use a "
                           "certificate from this CA")
        try:
            key = serialization.load_pem_private_key(key_pem, None)
        except (ValueError, TypeError) as exc:
            raise TlsError(f"{self.key} is not an unencrypted PEM private key: {exc}") from None
        public = serialization.PublicFormat.SubjectPublicKeyInfo
        enc = serialization.Encoding.DER
        if key.public_key().public_bytes(enc, public) != cert.public_key().public_bytes(enc,
                                                                                        public):
            raise TlsError(f"{self.key} is not the key of {self.cert}")
        try:
            sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            ips = frozenset(str(ip) for ip in sans.get_values_for_type(x509.IPAddress))
        except x509.ExtensionNotFound:
            ips = frozenset()
        return Material(ca_pem, key_pem, cert_pem,
                        subject_field(cert, NameOID.COMMON_NAME),
                        subject_field(cert, NameOID.ORGANIZATIONAL_UNIT_NAME), ips)

    @staticmethod
    def _read(path: Path) -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise TlsError(f"cannot read {path}: {exc.strerror}; make the files with "
                           "'s6nf pki init --dir DIR' or see docs/security.md") from None

    @staticmethod
    def _cert(path: Path, pem: bytes) -> x509.Certificate:
        try:
            return x509.load_pem_x509_certificate(pem)
        except ValueError as exc:
            raise TlsError(f"{path} is not a PEM certificate: {exc}") from None


def load_dir(directory: Path | None, name: str) -> Material | None:
    """Component ``name``'s checked material from ``directory``; None (no TLS) without one."""
    return None if directory is None else TlsConfig.in_dir(directory, name).load()
