"""``s6nf pki init``: which certificates, naming which addresses."""

import pytest

from s6nf.cli import main
from s6nf.config import load
from s6nf.tls import TlsConfig
from s6nf.tls.components import components


def test_with_the_configuration_every_component_names_its_management_address():
    out = components(load(), None, [])
    assert out["controller"] == ["10.54.0.2"] and out["client"] == ["10.54.0.2"]
    assert out["switch"] == ["10.54.0.3"]
    assert out["nf0"] == ["10.54.0.10"] and out["nf7"] == ["10.54.0.17"]
    assert len(out) == 3 + 8


def test_without_configuration_agents_are_counted_and_extra_addresses_added():
    out = components(None, 2, ["192.0.2.1"])
    assert out == {name: ["192.0.2.1"] for name in ("controller", "switch", "client", "nf0",
                                                    "nf1")}


@pytest.mark.parametrize(("instances", "extra", "message"), [
    (0, [], "at least 1"), (None, ["nope"], "'nope' is not an IP address")])
def test_bad_options_are_refused(instances, extra, message):
    with pytest.raises(ValueError, match=message):
        components(None, instances, extra)


def test_the_command_writes_loadable_certificates(tmp_path, capsys):
    assert main(["pki", "init", "--dir", str(tmp_path), "--instances", "1"]) == 0
    assert "CA and 4 certificates" in capsys.readouterr().out
    assert TlsConfig.in_dir(tmp_path, "nf0").load().role == "agent"
    assert main(["pki", "init", "--dir", str(tmp_path / "x"), "--config", "/nonexistent"]) == 1
