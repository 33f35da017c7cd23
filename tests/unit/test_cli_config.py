import json

from s6nf.cli import main
from s6nf.config import DEFAULT_PATH


def test_config_check_summarizes_a_valid_file(capsys):
    assert main(["config", "check", str(DEFAULT_PATH)]) == 0
    out = capsys.readouterr().out
    assert "valid" in out and "controller at 10.54.0.2:9600" in out


def test_config_check_names_the_bad_field(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(DEFAULT_PATH.read_text().replace('kind = "ebpf"', 'kind = "tofino"'))
    assert main(["config", "check", str(bad)]) == 1
    assert "target.kind: unknown value 'tofino'" in capsys.readouterr().err


def test_config_vagrant_json_lists_every_host(capsys):
    assert main(["config", "vagrant-json"]) == 0
    hosts = json.loads(capsys.readouterr().out)["hosts"]
    assert {h["role"] for h in hosts} == {"gen", "switch", "nf", "sink", "controller"}


def test_testbed_up_refuses_a_bad_configuration_before_starting(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(DEFAULT_PATH.read_text().replace('peer = "sw.nf1"', 'peer = "sw.nf9"'))
    assert main(["testbed", "up", "--name", "nosuch", "--config", str(bad)]) == 1
    assert "hosts.nf1.data.in.peer: no interface 'sw.nf9'" in capsys.readouterr().err
