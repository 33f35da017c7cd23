"""The development CA: names, roles, addresses and file modes of what it issues."""

import stat

import pytest
from cryptography import x509

from s6nf.tls.pki import CertificateAuthority, init_pki, role_of


@pytest.mark.parametrize(("name", "role"), [("controller", "controller"), ("switch", "switch"),
                                            ("client", "client"), ("nf0", "agent"),
                                            ("nf61", "agent")])
def test_a_component_name_gives_its_role(name, role):
    assert role_of(name) == role


@pytest.mark.parametrize("name", ["nf", "agent", "Controller", "nf0x"])
def test_an_unknown_component_name_is_refused(name):
    with pytest.raises(ValueError, match="unknown component name"):
        role_of(name)


def test_init_writes_a_ca_and_certificates_with_private_keys(tmp_path):
    issued = init_pki(tmp_path, {"controller": ["10.54.0.2"], "nf0": ["10.54.0.10"]})
    assert [i.name for i in issued] == ["controller", "nf0"]
    for path in (tmp_path / "ca.key", tmp_path / "controller.key", tmp_path / "nf0.key"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate((tmp_path / "nf0.crt").read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} == {"10.54.0.10",
                                                                             "127.0.0.1"}
    ca = x509.load_pem_x509_certificate((tmp_path / "ca.crt").read_bytes())
    assert cert.issuer == ca.subject


def test_init_again_keeps_the_ca(tmp_path):
    init_pki(tmp_path, {"controller": []})
    ca = (tmp_path / "ca.crt").read_bytes()
    init_pki(tmp_path, {"nf1": []})
    assert (tmp_path / "ca.crt").read_bytes() == ca
    assert CertificateAuthority.load(tmp_path).cert.subject.rfc4514_string()


def test_loading_a_directory_without_a_ca_says_how_to_make_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="s6nf pki init"):
        CertificateAuthority.load(tmp_path)
