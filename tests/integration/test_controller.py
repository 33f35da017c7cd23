"""The controller on the embedded testbed, each component in its host's namespace over the
management network: agents in their own processes, steering over P4Runtime to the eBPF
target, scale 1 → 2 → 4 → 1, a controller restart that reconciles steering (root only)."""

import os
import re

import pytest

from s6nf.agent.control import key_space_from_json
from s6nf.agent.maps import SteeringMaps
from s6nf.agent.structs import FwdTarget
from s6nf.keyspace import minimum_moves
from s6nf.testbed.run import run_trace
from s6nf.testbed.services import management_services, run_s6nf
from s6nf.testbed.testbed import Testbed
from s6nf.testbed.topology import gen_link, port_of
from s6nf.testbed.traffic import write_flows

pytestmark = [pytest.mark.root, pytest.mark.timeout(240)]
INSTANCES = 4
METRICS_PORT = 9690


@pytest.fixture(scope="module")
def bed(tmp_path_factory):
    tb = Testbed(f"ic{os.getpid() % 100000}")
    tb.up(INSTANCES, steer=False)
    try:
        yield tb, tmp_path_factory.mktemp("ctl")
    finally:
        tb.down()


def check_traffic(tb, trace, ks):
    report = run_trace(tb, trace.path)
    assert report.problems() == []
    for instance, flows in report.delta_flows().items():
        for key in flows:
            assert ks.owner(key.bucket(ks.buckets)) == instance


def steering(tb):
    """(port, dmac) of every bucket as the eBPF target's maps hold it."""
    with SteeringMaps.pinned(tb.pin_dir("sw")) as maps:
        return [(t.port, bytes(t.dmac)) for t in maps.key_space()]


def expected_steering(ks, members):
    by_instance = {m["instance"]: (m["port"], bytes.fromhex(m["dmac"].replace(":", "")))
                   for m in members}
    return [by_instance[ks.owner(b)] for b in range(ks.buckets)]


def reconciled_entries(plane):
    found = re.search(r"^s6nf_controller_reconciled_entries (\d+)", plane.metrics(), re.M)
    assert found, "no reconciled-entries gauge in the controller's metrics"
    return int(found.group(1))


def test_scale_steps_restart_and_reconcile(bed):
    tb, tmp = bed
    trace = write_flows(tmp / "t.pcap", 1000, 2, seed=3, dst_mac=gen_link().b.mac)
    with management_services(tb, tmp / "state.json", metrics_port=METRICS_PORT) as plane:
        members = plane.wait_registered(INSTANCES)
        previous = None
        for count in (1, 2, 4, 1):
            outcome = plane.scale_to(count)
            assert outcome["ok"], outcome
            ks = key_space_from_json(plane.status()["key_space"])
            assert len(ks.instances) == count
            if previous is not None:
                assert len(previous.moved(ks)) == minimum_moves(previous, sorted(ks.instances))
                assert outcome["moved"] == len(previous.moved(ks))
            assert steering(tb) == expected_steering(ks, members)
            check_traffic(tb, trace, ks)
            previous = ks
        assert plane.scale_to(2)["ok"]
        ks = key_space_from_json(plane.status()["key_space"])
        check_traffic(tb, trace, ks)

        plane.stop_controller()
        wrong_bucket = 7
        with SteeringMaps.pinned(tb.pin_dir("sw")) as maps:
            maps.apply_key_space({wrong_bucket: FwdTarget.of(port_of(3), bytes(6))})
        plane.start_controller()
        assert key_space_from_json(plane.status()["key_space"]) == ks
        assert reconciled_entries(plane) == 1
        assert steering(tb) == expected_steering(ks, members)
        plane.stop_controller()
        plane.start_controller()
        assert reconciled_entries(plane) == 0
        assert {m["instance"] for m in plane.status()["members"]} == set(range(INSTANCES))
        check_traffic(tb, trace, ks)


def test_an_unreachable_agent_is_named_before_steering_changes(bed):
    """An agent gone from the management network: scaling onto it stops in its first phase
    naming the agent's address, steering as it was; ``config check --reach`` from the
    controller's host names it too."""
    tb, tmp = bed
    with management_services(tb, tmp / "unreachable.json") as plane:
        plane.wait_registered(INSTANCES)
        assert plane.scale_to(2)["ok"]
        before = steering(tb)
        plane.stop_agent(3)
        outcome = plane.scale_to(4)
        assert not outcome["ok"]
        (phase,) = outcome["phases"]
        address = f"{tb.config.host('nf3').management_ip}:{tb.config.nf.control_port}"
        assert phase["name"] == "adopt" and f"agent 3: s6nf.Agent.Status at {address}: " \
            "UNAVAILABLE" in phase["detail"], phase
        assert steering(tb) == before
        check = run_s6nf(tb, "ctl", ["config", "check", "--reach", "--instances", "4",
                                     str(tb.config.source)])
    assert check.returncode == 1
    assert check.stderr.splitlines() == [
        f"s6nf config: hosts.nf3.management: agent nf3's {what} at "
        f"{tb.config.host('nf3').management_ip}:{port} cannot be reached from here: "
        "Connection refused"
        for what, port in (("control service", tb.config.nf.control_port),
                           ("state channel", tb.config.nf.state_port))]
