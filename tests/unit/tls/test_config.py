"""TlsConfig.load refuses every bad file with a message naming it, before anything starts."""

import datetime
import shutil

import pytest

from s6nf.tls import TlsConfig, TlsError
from s6nf.tls.config import load_dir
from s6nf.tls.pki import CertificateAuthority, init_pki


@pytest.fixture
def pki(tmp_path):
    init_pki(tmp_path / "good", {"controller": ["10.54.0.2"], "nf3": ["10.54.0.13"]})
    init_pki(tmp_path / "other", {"controller": []})
    return tmp_path


def test_a_good_component_loads_with_its_name_role_and_addresses(pki):
    m = TlsConfig.in_dir(pki / "good", "nf3").load()
    assert (m.name, m.role) == ("nf3", "agent")
    assert m.ips == {"10.54.0.13", "127.0.0.1"}
    assert m.covers("10.54.0.13") and m.covers("0.0.0.0") and not m.covers("10.54.0.14")
    assert b"PRIVATE KEY" not in repr(m).encode()
    assert load_dir(None, "nf3") is None


def test_a_missing_file_is_named(pki):
    with pytest.raises(TlsError, match=r"cannot read .*nf9\.crt.*s6nf pki init"):
        TlsConfig.in_dir(pki / "good", "nf9").load()


def test_a_certificate_of_another_ca_is_refused(pki):
    config = TlsConfig(pki / "good" / "ca.crt", pki / "other" / "controller.crt",
                       pki / "other" / "controller.key")
    with pytest.raises(TlsError, match=r"controller\.crt .* is not signed by the CA in"):
        config.load()


def test_a_key_of_another_certificate_is_refused(pki):
    config = TlsConfig(pki / "good" / "ca.crt", pki / "good" / "controller.crt",
                       pki / "good" / "nf3.key")
    with pytest.raises(TlsError, match=r"nf3\.key is not the key of .*controller\.crt"):
        config.load()


def test_an_expired_certificate_is_refused(pki):
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=400)
    with pytest.raises(TlsError, match=r"ca\.crt is valid from .* not now"):
        TlsConfig.in_dir(pki / "good", "controller").load(now=later)


def test_a_short_lived_component_certificate_expires_before_its_ca(pki):
    ca = CertificateAuthority.load(pki / "good")
    ca.issue_to(pki / "good", "client", days=1)
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=2)
    with pytest.raises(TlsError, match=r"client\.crt is valid from"):
        TlsConfig.in_dir(pki / "good", "client").load(now=later)


def test_garbage_is_not_a_certificate(pki):
    (pki / "good" / "nf3.crt").write_text("not a certificate")
    with pytest.raises(TlsError, match=r"nf3\.crt is not a PEM certificate"):
        TlsConfig.in_dir(pki / "good", "nf3").load()
    shutil.copy(pki / "good" / "controller.crt", pki / "good" / "nf3.key")
    (pki / "good" / "nf3.crt").write_bytes((pki / "good" / "controller.crt").read_bytes())
    with pytest.raises(TlsError, match=r"nf3\.key is not an unencrypted PEM private key"):
        TlsConfig.in_dir(pki / "good", "nf3").load()
