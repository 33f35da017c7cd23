"""The loader: the repository's testbed.toml parses; each kind of bad configuration is refused
with an error naming the field, before anything starts."""

import copy
import tomllib

import pytest

from s6nf.config import DEFAULT_PATH, ConfigError, load, parse
from s6nf.config.loader import from_dict

RAW = tomllib.loads(DEFAULT_PATH.read_text())


def test_the_repository_file_parses():
    config = load()
    assert [h.name for h in config.by_role("nf")] == [f"nf{i}" for i in range(8)]
    assert config.controller_address == "10.54.0.2:9600"
    assert config.target.kind == "ebpf" and config.target.port == 9559
    assert config.link_between("nf1", "sink")[1].ref == "sink.nf1"
    assert len(config.links()) == 1 + 2 * 8


def test_a_bmv2_target_takes_the_p4c_outputs():
    raw = copy.deepcopy(RAW)
    raw["target"].update(kind="bmv2", p4info="build/steer.p4info.txtpb",
                         device_config="build/steer.json")
    target = from_dict(raw).target
    assert (target.kind, str(target.device_config)) == ("bmv2", "build/steer.json")


def _set(raw, path, value):
    *parents, last = path.split(".")
    for key in parents:
        raw = raw[key]
    if value is None:
        del raw[last]
    else:
        raw[last] = value


BAD = [
    ("unknown role", "hosts.gen.role", "router", "hosts.gen.role", "unknown value 'router'"),
    ("unknown field", "nf.instance", 3, "nf.instance", "unknown field"),
    ("unknown field in an interface", "hosts.nf0.data.in.vlan", 3, "hosts.nf0.data.in.vlan",
     "unknown field"),
    ("duplicate data address", "hosts.nf1.data.out.address", "10.53.0.6/30",
     "hosts.nf1.data.out.address", "duplicate address 10.53.0.6 (also hosts.sink.data.nf0"),
    ("duplicate management address", "hosts.nf1.management", "10.54.0.10/24",
     "hosts.nf1.management", "duplicate address 10.54.0.10 (also hosts.nf0.management)"),
    ("duplicate MAC", "hosts.nf1.data.in.mac", "02:53:36:00:00:01", "hosts.nf1.data.in.mac",
     "duplicate MAC 02:53:36:00:00:01 (also hosts.nf0.data.in.mac)"),
    ("missing interface", "hosts.nf1.data.out", None, "hosts.sink.data",
     "no data link between nf1 and sink"),
    ("missing switch interface", "hosts.sw.data.nf1", None, "hosts.nf1.data.in.peer",
     "no interface 'sw.nf1'"),
    ("bad MAC", "hosts.gen.data.eth0.mac", "02:53:36:00:fe", "hosts.gen.data.eth0.mac",
     "bad MAC address"),
    ("bad address", "hosts.gen.data.eth0.address", "10.53.255.300/30",
     "hosts.gen.data.eth0.address", "bad address"),
    ("address without prefix", "hosts.gen.management", "10.54.0.4", "hosts.gen.management",
     "prefix length"),
    ("too many instances", "nf.instances", 9, "nf.instances", "only 8 nf hosts"),
    ("port out of range", "controller.api_port", 70000, "controller.api_port", "out of range"),
    ("target port out of range", "target.address", "10.54.0.3:0", "target.address",
     "bad address"),
    ("unreachable agent", "hosts.nf3.management", "10.55.0.13/24", "hosts.nf3.management",
     "outside the management network 10.54.0.0/24: the controller cannot reach this agent"),
    ("target not on the switch", "target.address", "10.54.0.9:9559", "target.address",
     "not the switch host's management address"),
    ("controller host missing", "controller.host", "boss", "controller.host", "no host"),
    ("bad type", "nf.instances", "two", "nf.instances", "expected an integer"),
    ("bmv2 without p4c outputs", "target.kind", "bmv2", "target.p4info", "missing"),
    ("bucket count", "maps.buckets", 1000, "maps.buckets", "power of two"),
    ("punt ring size", "maps.punt_ring_mib", 48, "maps.punt_ring_mib", "power of two"),
    ("nf host name", "hosts.nfx", {"role": "nf", "management": "10.54.0.99/24"},
     "hosts.nfx.role", "named nf<instance>"),
    ("two switches", "hosts.sw2", {"role": "switch", "management": "10.54.0.99/24"}, "hosts",
     "exactly one host needs role 'switch'"),
    ("peer in another subnet", "hosts.nf0.data.in.address", "10.53.9.2/30",
     "hosts.nf0.data.in.address", "not in the subnet of its peer sw.nf0"),
    ("interface on two links", "hosts.gen.data.eth0.peer", "sink.nf0",
     "hosts.nf0.data.out.peer", "sink.nf0 is already linked to gen.eth0"),
    ("tls dir not a string", "tls", {"dir": 5}, "tls.dir", "expected a string"),
    ("tls dir empty", "tls", {"dir": ""}, "tls.dir", "empty"),
    ("unknown tls field", "tls", {"dir": "pki", "ca": "ca.pem"}, "tls.ca", "unknown field"),
]


@pytest.mark.parametrize(("what", "path", "value", "field", "message"), BAD,
                         ids=[b[0] for b in BAD])
def test_bad_configuration_names_the_field(what, path, value, field, message):
    raw = copy.deepcopy(RAW)
    _set(raw, path, value)
    with pytest.raises(ConfigError) as info:
        from_dict(raw)
    assert info.value.field == field, str(info.value)
    assert message in str(info.value)


def test_tls_is_off_unless_configured_and_its_dir_is_relative_to_the_file(tmp_path):
    assert load().tls_dir is None
    raw = copy.deepcopy(RAW)
    raw["tls"] = {"dir": "/etc/s6nf/pki"}
    assert str(from_dict(raw, tmp_path / "t.toml").tls_dir) == "/etc/s6nf/pki"
    raw["tls"] = {"dir": "pki"}
    assert from_dict(raw, tmp_path / "t.toml").tls_dir == tmp_path / "pki"


def test_duplicate_names_are_refused_by_the_toml_parser():
    text = DEFAULT_PATH.read_text() + '\n[hosts.nf0]\nrole = "nf"\n'
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse(text)


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the configuration"):
        load(tmp_path / "nope.toml")
