"""p4runtime-shell steering real traffic on the testbed through the eBPF target (root only)."""

import ipaddress
import os

import p4runtime_sh.shell as sh
import pytest

from s6nf.agent.maps import SteeringMaps
from s6nf.agent.p4rt import serve
from s6nf.agent.p4rt.ebpf_backend import EbpfBackend
from s6nf.testbed.run import run_trace
from s6nf.testbed.testbed import Testbed
from s6nf.testbed.topology import gen_link, port_of
from s6nf.testbed.traffic import write_flows

pytestmark = [pytest.mark.root, pytest.mark.timeout(60)]


@pytest.fixture(scope="module")
def shell():
    tb = Testbed(f"ip{os.getpid() % 100000}")
    tb.up(2)
    maps = SteeringMaps.pinned(tb.pin_dir("sw"))
    with serve(EbpfBackend(maps), "127.0.0.1:0", device_id=1, preloaded=True) as server:
        sh.setup(device_id=1, grpc_addr=server.address, election_id=(0, 1), verbose=False)
        try:
            yield tb, sh
        finally:
            sh.teardown()
    maps.close()
    tb.down()


def mac(tb, instance):
    return tb.topology().endpoint(f"nf{instance}", "in").mac


def test_shell_reads_the_key_space_the_testbed_installed(shell):
    tb, sh = shell
    entries = {int.from_bytes(e.match["bucket"].exact.value, "big"): e
               for e in sh.TableEntry("key_space").read()}
    assert len(entries) == tb.buckets
    owners = tb.current_key_space().owners
    for bucket in (0, 1, 4095):
        assert int.from_bytes(entries[bucket].action["port"].value, "big") == \
            port_of(owners[bucket])


def test_shell_moves_a_bucket_and_pins_a_flow_and_traffic_follows(shell, tmp_path):
    tb, sh = shell
    trace = write_flows(tmp_path / "t.pcap", 200, 2, seed=11, dst_mac=gen_link().b.mac)
    flows = list(trace.flows)
    moved, pinned = flows[0], flows[1]
    ks = tb.current_key_space()
    new_owner = 1 - ks.owner(moved.bucket())
    entry = sh.TableEntry("key_space")(action="forward")
    entry.match["bucket"] = str(moved.bucket())
    entry.action["port"] = str(port_of(new_owner))
    entry.action["dmac"] = mac(tb, new_owner)
    entry.modify()

    lo, hi = sorted([(pinned.src, pinned.sport), (pinned.dst, pinned.dport)])
    pin_owner = 1 - ks.owner(pinned.bucket()) if pinned.bucket() != moved.bucket() else new_owner
    pin = sh.TableEntry("flow_pin")(action="forward")
    pin.match["addr_lo"] = str(ipaddress.IPv4Address(lo[0]))
    pin.match["addr_hi"] = str(ipaddress.IPv4Address(hi[0]))
    pin.match["port_lo"] = str(lo[1])
    pin.match["port_hi"] = str(hi[1])
    pin.match["proto"] = str(pinned.proto)
    pin.action["port"] = str(port_of(pin_owner))
    pin.action["dmac"] = mac(tb, pin_owner)
    pin.insert()
    try:
        assert len(list(sh.TableEntry("flow_pin").read())) == 1
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
        pin.delete()
