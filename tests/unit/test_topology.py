import pytest

from s6nf.config import DEFAULT_PATH, parse
from s6nf.testbed.topology import (
    MAX_INSTANCES,
    Endpoint,
    Link,
    default_config,
    embedded,
    embedded_config,
    port_of,
)


def test_hosts_and_links_follow_the_instances():
    topo = embedded("tb", [1, 0])
    assert topo.hosts == ["gen", "sw", "nf0", "nf1", "sink"]
    assert topo.namespace("nf1") == "tb-nf1"
    assert len(topo.links) == 1 + 2 * 2
    assert topo.endpoint("sw", "nf1").mac.endswith(f":{port_of(1):02x}")


def test_every_mac_address_and_interface_is_unique():
    topo = embedded("tb", [h.instance for h in default_config().nf_hosts])
    ends = [e for link in topo.links for e in (link.a, link.b)]
    assert len({e.mac for e in ends}) == len(ends)
    assert len({e.address for e in ends}) == len(ends)
    assert len({(e.host, e.ifname) for e in ends}) == len(ends)
    assert all(len(e.ifname) < 16 for e in ends)


@pytest.mark.parametrize(
    ("name", "instances", "message"),
    [("Bad", [0], "testbed name"), ("x" * 9, [0], "testbed name"), ("tb", [0, 0], "duplicate"),
     ("tb", [MAX_INSTANCES], "out of range")],
)
def test_bad_descriptions_are_refused(name, instances, message):
    with pytest.raises(ValueError, match=message):
        embedded(name, instances)


def test_unknown_endpoint_is_a_clear_error():
    with pytest.raises(LookupError, match="no interface 'eth9' on host 'sw'"):
        embedded("tb", [0]).endpoint("sw", "eth9")


def _mac(host_byte, port_byte):
    return f"02:53:36:00:{host_byte:02x}:{port_byte:02x}"


def test_the_topology_from_testbed_toml_is_the_embedded_testbed():
    """testbed.toml describes the same hosts, names, MACs and addresses the embedded testbed
    has always had: gen:eth0 ↔ sw:gen, sw:nf<i> ↔ nf<i>:in, nf<i>:out ↔ sink:nf<i>."""
    ids = [h.instance for h in default_config().nf_hosts]
    assert ids == list(range(8))
    expected = [Link(Endpoint("gen", "eth0", _mac(0xFE, 0), "10.53.255.1/30"),
                     Endpoint("sw", "gen", _mac(0xFD, 0), "10.53.255.2/30"))]
    for i in ids:
        expected += [Link(Endpoint("sw", f"nf{i}", _mac(0xFD, i + 1), f"10.53.{i}.1/30"),
                          Endpoint(f"nf{i}", "in", _mac(i, 1), f"10.53.{i}.2/30")),
                     Link(Endpoint(f"nf{i}", "out", _mac(i, 2), f"10.53.{i}.5/30"),
                          Endpoint("sink", f"nf{i}", _mac(0xFC, i + 1), f"10.53.{i}.6/30"))]
    assert embedded("tb", ids).links == expected


def test_a_topology_needs_the_embedded_host_names():
    text = DEFAULT_PATH.read_text().replace("[hosts.sw]", "[hosts.s1]").replace('"sw.', '"s1.')
    with pytest.raises(ValueError, match="needs the switch host named 'sw'"):
        embedded_config(parse(text))
