"""p4runtime-shell steering real traffic on the testbed through the eBPF target: the target
in the switch's namespace, the shell on the controller host, over the management network
(root only)."""

import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from s6nf import netns
from s6nf.testbed.run import run_trace
from s6nf.testbed.services import management_services
from s6nf.testbed.testbed import Testbed
from s6nf.testbed.topology import gen_link, port_of
from s6nf.testbed.traffic import write_flows

pytestmark = [pytest.mark.root, pytest.mark.timeout(120)]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def shell(tmp_path_factory):
    """The testbed dealing the buckets itself, its target, and a way to run the shell."""
    tb = Testbed(f"ip{os.getpid() % 100000}")
    try:
        tb.up(2)
        with management_services(tb, tmp_path_factory.mktemp("p4") / "ctl.json", roles=()):
            def run(op):
                argv = netns.command_in(tb.namespace(tb.config.controller.host), [
                    sys.executable, "-m", "tests.p4rt_shell_ops", tb.config.target.address,
                    json.dumps(op)])
                done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO,
                                      timeout=60, check=False)
                assert done.returncode == 0, done.stderr
                return json.loads(done.stdout.splitlines()[-1])

            yield tb, run
    finally:
        tb.down()


def mac(tb, instance):
    return tb.topology().endpoint(f"nf{instance}", "in").mac


def test_shell_reads_the_key_space_the_testbed_installed(shell):
    tb, run = shell
    entries = run({"op": "read"})["key_space"]
    assert len(entries) == tb.buckets
    owners = tb.current_key_space().owners
    for bucket in (0, 1, 4095):
        assert entries[str(bucket)] == port_of(owners[bucket])


def test_shell_moves_a_bucket_and_pins_a_flow_and_traffic_follows(shell, tmp_path):
    tb, run = shell
    trace = write_flows(tmp_path / "t.pcap", 200, 2, seed=11, dst_mac=gen_link().b.mac)
    flows = list(trace.flows)
    moved, pinned = flows[0], flows[1]
    ks = tb.current_key_space()
    new_owner = 1 - ks.owner(moved.bucket())
    lo, hi = sorted([(pinned.src, pinned.sport), (pinned.dst, pinned.dport)])
    pin_owner = 1 - ks.owner(pinned.bucket()) if pinned.bucket() != moved.bucket() else new_owner
    pin = {"addr_lo": str(ipaddress.IPv4Address(lo[0])),
           "addr_hi": str(ipaddress.IPv4Address(hi[0])), "port_lo": lo[1], "port_hi": hi[1],
           "proto": pinned.proto}
    steered = run({"op": "steer", "bucket": moved.bucket(), "port": port_of(new_owner),
                   "dmac": mac(tb, new_owner),
                   "pin": {**pin, "port": port_of(pin_owner), "dmac": mac(tb, pin_owner)}})
    try:
        assert steered["pins"] == 1
        report = run_trace(tb, trace.path)
        assert report.problems() == []
        where = {key.canonical(): i for i, fl in report.delta_flows().items() for key in fl}
        assert where[moved.canonical()] == new_owner
        assert where[pinned.canonical()] == pin_owner
        now = tb.current_key_space()
        for key in flows[2:]:
            if key.bucket() != moved.bucket():
                assert where[key.canonical()] == now.owner(key.bucket())
    finally:
        assert run({"op": "unpin", "pin": pin})["pins"] == 0
