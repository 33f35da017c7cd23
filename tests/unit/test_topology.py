import pytest

from s6nf.testbed.topology import MAX_INSTANCES, embedded, port_of


def test_hosts_and_links_follow_the_instances():
    topo = embedded("tb", [1, 0])
    assert topo.hosts == ["gen", "sw", "nf0", "nf1", "sink"]
    assert topo.namespace("nf1") == "tb-nf1"
    assert len(topo.links) == 1 + 2 * 2
    assert topo.endpoint("sw", "nf1").mac.endswith(f":{port_of(1):02x}")


def test_every_mac_address_and_interface_is_unique():
    topo = embedded("tb", range(MAX_INSTANCES))
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
