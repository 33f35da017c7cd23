import pytest

from s6nf.cli import build_parser
from s6nf.cli_control import fill_from_config
from s6nf.config import DEFAULT_PATH, ConfigError, load
from s6nf.config.roles import agent_options, controller_options


def test_controller_options_come_from_the_configuration():
    options = controller_options(load())
    assert (options["bind"], options["device"], options["device_id"]) == (
        "10.54.0.2:9600", "10.54.0.3:9559", 1)


def test_agent_options_come_from_its_host():
    options = agent_options(load(), "nf1")
    assert options == {"instance": 1, "controller": "10.54.0.2:9600", "advertise": "10.54.0.11",
                       "port": 2, "dmac": "02:53:36:00:01:01", "control_port": 9610,
                       "state_port": 9611, "buckets": 4096, "tls_dir": None}


def test_the_tls_directory_comes_from_the_configuration(tmp_path):
    config = tmp_path / "testbed.toml"
    config.write_text(DEFAULT_PATH.read_text() + '\n[tls]\ndir = "pki"\n')
    assert agent_options(load(config), "nf0")["tls_dir"] == tmp_path / "pki"
    assert controller_options(load(config))["tls_dir"] == tmp_path / "pki"
    args = build_parser().parse_args(["controller", "run", "--config", str(config),
                                      "--tls-dir", "/elsewhere"])
    fill_from_config(args)
    assert str(args.tls_dir) == "/elsewhere"


@pytest.mark.parametrize(("host", "message"), [("nf42", "no host 'nf42'"),
                                               ("sw", "role 'switch'")])
def test_an_agent_on_a_wrong_host_is_refused(host, message):
    with pytest.raises(ConfigError, match=message) as info:
        agent_options(load(), host)
    assert info.value.field == "--host"


def test_command_line_options_win_over_the_configuration():
    args = build_parser().parse_args(["agent", "run", "--config", str(DEFAULT_PATH), "--host",
                                      "nf0", "--state-port", "7000"])
    fill_from_config(args)
    assert (args.instance, args.advertise, args.state_port) == (0, "10.54.0.10", 7000)


def test_without_configuration_the_old_defaults_hold():
    args = build_parser().parse_args(["controller", "run"])
    fill_from_config(args)
    assert (args.bind, args.device, args.device_id) == ("127.0.0.1:9600", "127.0.0.1:9559", 1)
    args = build_parser().parse_args(["agent", "run", "--instance", "0"])
    with pytest.raises(ValueError, match="--advertise, --port, --dmac"):
        fill_from_config(args)
