"""The systemd units and command lines each VM or server runs, rendered from the
configuration: every command parses as the s6nf CLI (or bmv2) takes it, with the file's
addresses, interfaces and target."""

import shlex
from pathlib import Path

import pytest

from s6nf.cli import build_parser
from s6nf.cli_control import fill_from_config
from s6nf.config import DEFAULT_PATH, ConfigError, load, parse
from s6nf.config.units import (
    BMV2_OUTPUTS,
    SIMPLE_SWITCH_GRPC,
    bmv2_command,
    pin_dir,
    units,
    with_target,
)
from s6nf.config.vagrant import vagrant_hosts
from s6nf.testbed.topology import port_of

S6NF = "/s6nf/.venv/bin/s6nf"
ROOT = Path("/s6nf")


def rendered(config, host, instances=2):
    return units(config, host, s6nf=S6NF, config_path=DEFAULT_PATH, workdir=ROOT,
                 instances=instances)


def service(text, key="ExecStart"):
    """The value of ``key`` in a unit's [Service] section."""
    (line,) = [line for line in text.splitlines() if line.startswith(f"{key}=")]
    return line.split("=", 1)[1]


def s6nf_args(text, key="ExecStart"):
    argv = shlex.split(service(text, key))
    assert argv[0] == S6NF
    return build_parser().parse_args(argv[1:])


def test_each_role_runs_its_own_units():
    config = load()
    bmv2 = with_target(config, "bmv2", ROOT)
    assert set(rendered(bmv2, "sw")) == {"s6nf-bmv2.service"}
    assert set(rendered(config, "sw")) == {"s6nf-datapath.service", "s6nf-target.service"}
    assert set(rendered(config, "nf1")) == {"s6nf-datapath.service", "s6nf-agent.service"}
    assert set(rendered(config, "sink")) == {"s6nf-datapath.service"}
    assert set(rendered(config, "ctl")) == {"s6nf-controller.service"}
    assert rendered(config, "gen") == {}


def test_bmv2_ports_are_the_switchs_data_interfaces_numbered_as_steering_names_them():
    text = DEFAULT_PATH.read_text().replace('data.gen = {', 'data.up0 = {').replace(
        'peer = "sw.gen"', 'peer = "sw.up0"')
    config = with_target(parse(text), "bmv2", ROOT)
    argv = bmv2_command(config, 3)
    assert argv[0] == SIMPLE_SWITCH_GRPC and "--no-p4" in argv
    ports = {}
    for i, a in enumerate(argv):
        if a == "-i":
            number, ifname = argv[i + 1].split("@")
            ports[ifname] = number
    assert ports == {"up0": "0", "nf0": str(port_of(0)), "nf1": str(port_of(1)),
                     "nf2": str(port_of(2))}
    assert argv[argv.index("--device-id") + 1] == str(config.target.device_id)
    after = argv[argv.index("--") + 1:]
    assert after == ["--grpc-server-addr", config.target.address]
    assert service(rendered(config, "sw", 3)["s6nf-bmv2.service"]) == shlex.join(argv)


def test_the_controller_pushes_p4cs_bmv2_json_only_to_a_bmv2_target():
    config = load()
    plain = s6nf_args(rendered(config, "ctl")["s6nf-controller.service"])
    assert plain.device_config is None and plain.p4info is None
    bmv2 = with_target(config, "bmv2", ROOT)
    args = s6nf_args(rendered(bmv2, "ctl")["s6nf-controller.service"])
    assert (args.p4info, args.device_config) == tuple(ROOT / p for p in BMV2_OUTPUTS)
    fill_from_config(args)
    assert args.bind == config.controller_address and args.device == config.target.address


def test_a_bmv2_target_in_the_file_keeps_its_own_p4c_outputs():
    text = DEFAULT_PATH.read_text().replace(
        'kind = "ebpf"', 'kind = "bmv2"\np4info = "out/s.p4info.txtpb"\n'
        'device_config = "out/s.json"')
    config = parse(text)
    assert with_target(config, "bmv2", ROOT) is config
    args = s6nf_args(rendered(config, "ctl")["s6nf-controller.service"])
    assert (args.p4info, args.device_config) == (Path("out/s.p4info.txtpb"), Path("out/s.json"))


def test_the_agent_runs_on_its_host_with_the_files_nf_and_options():
    text = DEFAULT_PATH.read_text().replace(
        'name = "monitor"', 'name = "nat"').replace(
        "state_port = 9611", 'state_port = 9611\noptions = { public = "198.51.100.1" }')
    config = parse(text)
    unit = rendered(config, "nf1")["s6nf-agent.service"]
    assert "Requires=s6nf-datapath.service" in unit
    args = s6nf_args(unit)
    assert (args.host, args.nf, args.nf_option) == ("nf1", "nat", ["public=198.51.100.1"])
    assert args.pin_dir == pin_dir("nf1")
    args.config = DEFAULT_PATH
    fill_from_config(args)
    assert args.advertise == config.host("nf1").management_ip
    assert args.controller == config.controller_address
    assert args.port == port_of(1)


def test_the_data_path_unit_loads_and_unloads_the_host_with_the_instances_in_use():
    config = load()
    unit = rendered(config, "sw", 3)["s6nf-datapath.service"]
    for key, action in (("ExecStart", "up"), ("ExecStop", "down")):
        args = s6nf_args(unit, key)
        assert (args.command, args.action, args.host, args.instances) == (
            "host", action, "sw", 3)
    target = s6nf_args(rendered(config, "sw")["s6nf-target.service"])
    assert (target.address, target.pin_dir) == (config.target.address, pin_dir("sw"))


def test_an_unknown_target_is_refused_naming_the_field():
    with pytest.raises(ConfigError, match=r"^target\.kind: unknown value 'tofino'"):
        with_target(load(), "tofino", ROOT)


def test_vagrant_prints_the_next_commands_for_the_vms_it_makes():
    config = load()
    out = vagrant_hosts(config, "bmv2", 3, "/s6nf/testbed.toml")
    assert out["target"]["kind"] == "bmv2"
    assert [h["name"] for h in out["hosts"] if h["role"] == "nf"] == ["nf0", "nf1", "nf2"]
    assert f"scale to 3 --controller {config.controller_address}" in out["next_steps"]
    assert "vagrant ssh gen -c" in out["next_steps"]
    with pytest.raises(ConfigError, match="S6NF_NF_HOSTS"):
        vagrant_hosts(config, None, 9)
