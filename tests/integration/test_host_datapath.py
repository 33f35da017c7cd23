"""``s6nf host up`` and ``down`` on hosts that are not the embedded testbed: a namespace per
host standing in for each server, its NICs named as the configuration names them; with the
switch, both nf hosts and the sink loaded host by host, traffic from gen crosses the whole
data path, and ``down`` leaves no program or pin (root only)."""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from pyroute2 import IPRoute
from pyroute2 import netns as pyroute2_netns

from s6nf import netns
from s6nf.agent import libbpf
from s6nf.agent.maps import FlowTable, SinkCounters, SteeringMaps
from s6nf.agent.structs import FwdTarget, mac_bytes
from s6nf.config import DEFAULT_PATH, load
from s6nf.keyspace import initial
from s6nf.testbed.replay import replay, wait_until_stable
from s6nf.testbed.topology import port_of
from s6nf.testbed.traffic import write_flows

pytestmark = [pytest.mark.root, pytest.mark.timeout(120)]
HOSTS = ("gen", "sw", "nf0", "nf1", "sink")


@pytest.fixture
def servers():
    """A namespace per host, linked as the configuration's data links; yields a function
    that runs ``s6nf host ACTION`` on a host."""
    config = load()
    prefix = f"hp{os.getpid() % 100000}"
    pins = Path("/sys/fs/bpf") / f"s6nf-{prefix}"
    made = []
    try:
        for name in HOSTS:
            pyroute2_netns.create(f"{prefix}-{name}")
            made.append(f"{prefix}-{name}")
            netns.write_sysctl(f"{prefix}-{name}", "net.ipv6.conf.all.disable_ipv6", "1")
        for a, b in config.links():
            if a.host not in HOSTS or b.host not in HOSTS:
                continue
            with IPRoute(netns=f"{prefix}-{a.host}") as ipr:
                ipr.link("add", ifname=a.name, kind="veth",
                         peer={"ifname": b.name, "net_ns_fd": f"{prefix}-{b.host}"})
            for end in (a, b):
                with IPRoute(netns=f"{prefix}-{end.host}") as ipr:
                    index = ipr.link_lookup(ifname=end.name)[0]
                    ipr.link("set", index=index, address=end.mac, state="up")

        def host(action, name):
            argv = netns.command_in(f"{prefix}-{name}", [
                sys.executable, "-m", "s6nf.cli", "host", action, "--config", str(DEFAULT_PATH),
                "--host", name, "--instances", "2", "--pin-root", str(pins)])
            done = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                                  check=False)
            assert done.returncode == 0, done.stdout + done.stderr
            return done.stdout

        yield config, prefix, pins, host
    finally:
        for ns in made:
            pyroute2_netns.remove(ns)
        shutil.rmtree(pins, ignore_errors=True)


def xdp_attached(namespace, ifname):
    with netns.entered(namespace):
        return libbpf.xdp_prog_id(socket.if_nametoindex(ifname))


def test_hosts_loaded_one_by_one_carry_traffic_and_unload_cleanly(servers, tmp_path):
    config, prefix, pins, host = servers
    for name in ("sw", "nf0", "nf1", "sink"):
        assert "data path loaded" in host("up", name)
    assert "no data path" in host("up", "gen")
    expected = {"sw": ["gen"], "nf0": ["in", "out"], "nf1": ["in", "out"],
                "sink": ["nf0", "nf1"]}
    for name, ifnames in expected.items():
        for ifname in ifnames:
            assert xdp_attached(f"{prefix}-{name}", ifname), (name, ifname)
    with FlowTable.pinned(pins / "nf0") as table:
        egress = table.egress()
    sink_end = config.link_between("nf0", "sink")[1]
    to_sink, switch_end = config.link_between("nf0", "sink")[0], config.link_between("nf0", "sw")[1]
    assert egress[0][1:] == (mac_bytes(to_sink.mac), mac_bytes(sink_end.mac))
    assert egress[1][1:] == (mac_bytes(config.host("nf0").interface("in").mac),
                             mac_bytes(switch_end.mac))

    ks = initial([0, 1], config.maps.buckets)
    macs = {i: mac_bytes(config.link_between(f"nf{i}", "sw")[0].mac) for i in (0, 1)}
    with SteeringMaps.pinned(pins / "sw") as steering:
        steering.apply_key_space({b: FwdTarget.of(port_of(o), macs[o])
                                  for b, o in enumerate(ks.owners)})
    gen_if, sw_gen = config.link_between("gen", "sw")
    trace = write_flows(tmp_path / "t.pcap", 200, 3, seed=4, dst_mac=sw_gen.mac)
    sent = replay(f"{prefix}-gen", gen_if.name, trace.path).sent
    with SinkCounters.pinned(pins / "sink") as sink:
        wait_until_stable(lambda: sum(p for p, _ in sink.flows().values()), sent)
        received = sink.flows()
    assert sent == 600 and sum(p for p, _ in received.values()) == sent
    counted = 0
    for i in (0, 1):
        with FlowTable.pinned(pins / f"nf{i}") as table:
            flows = table.entries()
        assert flows, f"nf{i} counted no flow"
        assert all(ks.owner(k.bucket(ks.buckets)) == i for k in flows)
        counted += sum(s.packets for s in flows.values())
    assert counted == sent

    for name in ("sw", "nf0", "nf1", "sink"):
        host("down", name)
        assert not (pins / name).exists()
    for name, ifnames in expected.items():
        for ifname in ifnames:
            assert not xdp_attached(f"{prefix}-{name}", ifname), (name, ifname)
