import json
import socket

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


def test_config_check_reach_names_each_listener_it_cannot_reach(capsys, tmp_path):
    """Loopback addresses stand in for the hosts (no testbed here): nf0's agent and the
    controller listen, nf1's agent and the target do not."""
    text = DEFAULT_PATH.read_text().replace('"10.54.0.', '"127.54.0.')
    with socket.create_server(("127.54.0.10", 0)) as control, \
            socket.create_server(("127.54.0.10", 0)) as state, \
            socket.create_server(("127.54.0.2", 0)) as api:
        ports = [s.getsockname()[1] for s in (control, state, api)]
        text = text.replace("control_port = 9610", f"control_port = {ports[0]}").replace(
            "state_port = 9611", f"state_port = {ports[1]}").replace(
            "api_port = 9600", f"api_port = {ports[2]}")
        path = tmp_path / "local.toml"
        path.write_text(text)
        assert main(["config", "check", "--reach", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "s6nf config: target.address: the ebpf target (P4Runtime) at 127.54.0.3:9559 cannot "
        "be reached from here: Connection refused",
        f"s6nf config: hosts.nf1.management: agent nf1's control service at "
        f"127.54.0.11:{ports[0]} cannot be reached from here: Connection refused",
        f"s6nf config: hosts.nf1.management: agent nf1's state channel at "
        f"127.54.0.11:{ports[1]} cannot be reached from here: Connection refused"]
    assert "reach: 3 of 6 listeners reached from here" in captured.out
