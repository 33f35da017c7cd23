"""The controller, the P4Runtime server and the agents each in their own namespace, talking
over the management network with the configured addresses and mutual TLS; a scale event
steers traffic, a client without a certificate is refused, and no component has a socket on
loopback (root only)."""

import os

import pytest

from s6nf.testbed.run import run_trace
from s6nf.testbed.services import management_services, run_s6nf
from s6nf.testbed.sockets import ESTABLISHED
from s6nf.testbed.testbed import Testbed
from s6nf.testbed.topology import gen_link
from s6nf.testbed.traffic import write_flows

pytestmark = [pytest.mark.root, pytest.mark.timeout(180)]


def test_control_plane_runs_over_the_management_network_only(tmp_path):
    tb = Testbed(f"ms{os.getpid() % 100000}")
    try:
        tb.up(2, steer=False)
        trace = write_flows(tmp_path / "t.pcap", 400, 2, seed=5, dst_mac=gen_link().b.mac)
        pki = tmp_path / "pki"
        with management_services(tb, tmp_path / "ctl.json", pki) as plane:
            controller = plane.address
            members = plane.wait_registered(2)
            plain = run_s6nf(tb, "ctl", ["scale", "to", "2", "--controller", controller])
            assert plain.returncode == 1 and "UNAVAILABLE" in plain.stderr, plain.stderr
            scaled = run_s6nf(tb, "ctl", ["scale", "to", "2", "--controller", controller,
                                          "--tls-dir", str(pki)])
            assert scaled.returncode == 0, scaled.stdout + scaled.stderr
            assert run_trace(tb, trace.path).problems() == []
            sockets = plane.sockets()
            assert set(sockets) == {"ctl", "sw", "nf0", "nf1"}
            for host, found in sockets.items():
                assert found, f"no TCP socket in {host}"
                for s in found:
                    assert s.outside(tb.config.management_network) == [], (host, s)
            established = {h: {s.remote for s in found if s.state == ESTABLISHED}
                           for h, found in sockets.items()}
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
