"""TC programs attach at clsact egress and come off again (root only)."""

import os
import socket

import pytest
from pyroute2 import IPRoute
from pyroute2 import netns as pyroute2_netns

from s6nf import netns
from s6nf.agent import tc
from s6nf.agent.loader import Hook, load

pytestmark = pytest.mark.root


@pytest.fixture
def namespace():
    name = f"mtc{os.getpid() % 100000}"
    pyroute2_netns.create(name)
    try:
        with IPRoute(netns=name) as ipr:
            ipr.link("add", ifname="d0", kind="veth", peer="d1")
        yield name
    finally:
        pyroute2_netns.remove(name)


def filters(namespace):
    with netns.entered(namespace):
        return tc.egress_filters(socket.if_nametoindex("d0"))


def test_a_loaded_tc_program_attaches_at_egress_and_detaches(namespace):
    prog = load("stamp", hook=Hook.TC_EGRESS)
    try:
        assert filters(namespace) == []
        prog.attach("d0", namespace)
        assert filters(namespace) == ["stamp"]
        prog.detach_all()
        assert filters(namespace) == []
    finally:
        prog.detach_all()
        prog.close()


def test_attaching_to_a_missing_interface_names_it(namespace):
    prog = load("stamp", hook=Hook.TC_EGRESS)
    try:
        with pytest.raises(LookupError, match="no interface 'nosuch'"):
            prog.attach("nosuch", namespace)
    finally:
        prog.close()


def test_detaching_where_nothing_is_attached_is_quiet(namespace):
    with netns.entered(namespace):
        tc.detach_egress(socket.if_nametoindex("d0"))
