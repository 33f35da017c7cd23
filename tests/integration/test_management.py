"""The embedded testbed's management network: every host namespace, the controller's too, on
one bridge with its configured management address (root only)."""

import os
import socket

import pytest
from pyroute2 import netns as pyroute2_netns

from s6nf import netns
from s6nf.testbed.testbed import Testbed, TestbedError

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def testbed():
    tb = Testbed(f"mg{os.getpid() % 100000}")
    try:
        tb.up(2)
        yield tb
    finally:
        tb.down()


def _connect(tb: Testbed, server: str, client: str) -> str:
    """Connect from ``client``'s namespace to a listener on ``server``'s management address;
    return the address the server sees the connection come from."""
    address = tb.config.host(server).management_ip
    with netns.entered(tb.namespace(server)):
        listener = socket.create_server((address, 0))
    with listener:
        port = listener.getsockname()[1]
        with netns.entered(tb.namespace(client)):
            conn = socket.create_connection((address, port), timeout=5)
        with conn:
            accepted, (peer, _) = listener.accept()
            accepted.close()
    return str(peer)


def test_hosts_reach_each_other_over_the_management_network_only(testbed):
    for server, client in [("ctl", "nf0"), ("nf1", "ctl"), ("sw", "ctl"), ("nf0", "nf1")]:
        assert _connect(testbed, server, client) == testbed.config.host(client).management_ip


def test_an_added_instance_joins_the_management_network(testbed):
    testbed.up(3, steer=False)
    try:
        assert _connect(testbed, "ctl", "nf2") == testbed.config.host("nf2").management_ip
    finally:
        testbed.up(2, steer=False)


def test_down_removes_the_bridge_and_controller_namespaces():
    tb = Testbed(f"mh{os.getpid() % 100000}")
    tb.up(1)
    made = {ns for ns in pyroute2_netns.listnetns() if ns.startswith(tb.name + "-")}
    assert {tb.namespace("mgmt"), tb.namespace("ctl")} < made
    assert sorted(tb.down()) == sorted(made)


def test_a_testbed_up_without_management_is_not_silently_kept_so():
    plain = Testbed(f"mp{os.getpid() % 100000}", management=False)
    try:
        plain.up(1)
        with pytest.raises(TestbedError, match="up without a management network"):
            Testbed(plain.name).up(1)
    finally:
        plain.down()
