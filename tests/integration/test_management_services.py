"""The controller, the P4Runtime server and the agents each in their own namespace, talking
over the management network with the configured addresses and mutual TLS; a scale event
steers traffic, a client without a certificate is refused, and no component has a socket on
loopback (root only)."""

import ipaddress
import os

import pytest

from s6nf import netns
from s6nf.testbed.run import run_trace
from s6nf.testbed.services import management_services, run_s6nf, wait_registered
from s6nf.testbed.testbed import Testbed
from s6nf.testbed.topology import gen_link
from s6nf.testbed.traffic import write_flows

pytestmark = [pytest.mark.root, pytest.mark.timeout(180)]


def _tcp_sockets(namespace):
    """(local, remote, state) of every IPv4 TCP socket in ``namespace``."""
    with netns.entered(namespace), open("/proc/thread-self/net/tcp") as table:
        rows = table.read().splitlines()[1:]
    out = []
    for row in rows:
        local, remote, state = row.split()[1:4]
        out.append((_address(local), _address(remote), state))
    return out


def _address(hex_pair):
    ip, port = hex_pair.split(":")
    return ipaddress.IPv4Address(bytes.fromhex(ip)[::-1]), int(port, 16)


def test_control_plane_runs_over_the_management_network_only(tmp_path):
    tb = Testbed(f"ms{os.getpid() % 100000}", management=True)
    try:
        tb.up(2, steer=False)
        trace = write_flows(tmp_path / "t.pcap", 400, 2, seed=5, dst_mac=gen_link().b.mac)
        pki = tmp_path / "pki"
        with management_services(tb, tmp_path / "ctl.json", pki) as controller:
            members = wait_registered(tb, controller, 2, tls_dir=pki)
            plain = run_s6nf(tb, "ctl", ["scale", "to", "2", "--controller", controller])
            assert plain.returncode == 1 and "UNAVAILABLE" in plain.stderr, plain.stderr
            scaled = run_s6nf(tb, "ctl", ["scale", "to", "2", "--controller", controller,
                                          "--tls-dir", str(pki)])
            assert scaled.returncode == 0, scaled.stdout + scaled.stderr
            assert run_trace(tb, trace.path).problems() == []
            network = ipaddress.IPv4Network(tb.config.management_network)
            for host in ["ctl", "sw", "nf0", "nf1"]:
                sockets = _tcp_sockets(tb.namespace(host))
                assert sockets, f"no TCP socket in {host}"
                for (local, _), (remote, _), state in sockets:
                    assert local in network, (host, local, remote, state)
                    assert state == "0A" or remote in network, (host, local, remote, state)
            established = {h: {(str(r), port) for _, (r, port), s in
                               _tcp_sockets(tb.namespace(h)) if s == "01"}
                           for h in ["ctl", "nf0"]}
            target_ip, target_port = tb.config.target.address.split(":")
            assert (target_ip, int(target_port)) in established["ctl"]
            assert (tb.config.host("ctl").management_ip,
                    tb.config.controller.api_port) in established["nf0"]
            for member in members:
                nf = tb.config.host(f"nf{member['instance']}")
                assert member["control"].split(":")[0] == nf.management_ip
                assert member["state"].split(":")[0] == nf.management_ip
    finally:
        tb.down()
