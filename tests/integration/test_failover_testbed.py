"""Instance failure and restarts with the NAT on the embedded testbed (root only).

An agent is SIGKILLed in the middle of NAT traffic, with its instance's data link taken down
at the same moment (the host died), once in normal operation and once in the middle of a
scale event. The controller must declare it dead within its bound and re-steer its buckets to
the backups; every flow then keeps its public port (its entries were replicated before its
first packet left), its last packets and their replies get through, and the NAT's counters
lose at most the replication interval. An agent restarted in place resumes from its pinned
maps without a failover, and a controller restart changes nothing.
"""

import dataclasses
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from pyroute2 import IPRoute

from s6nf.agent.bpfmap import BpfMap
from s6nf.agent.control import key_space_from_json
from s6nf.agent.maps import SinkCounters
from s6nf.agent.structs import FlowKeyC, SinkFlow
from s6nf.controller.app import RESTART_GRACE_S
from s6nf.controller.failover import FailoverOutcome
from s6nf.keys import FlowKey
from s6nf.nfs.nat_maps import NatTables
from s6nf.testbed.accounting import gen_returned, sink_received
from s6nf.testbed.console import Console
from s6nf.testbed.replay import replay, wait_until_stable
from s6nf.testbed.run import run_trace
from s6nf.testbed.services import CONTROLLER, ControlPlane, management_services
from s6nf.testbed.testbed import Testbed
from s6nf.testbed.topology import default_config, gen_link, instance_host
from s6nf.testbed.workload import Distribution, WorkloadSpec, generate
from tests.integration.test_nat_testbed import NAT_OPTIONS, PUBLIC_INT, _lower_first

RANGES = {"steady": "10000-19999", "midscale": "20000-29999", "restart": "30000-39999",
          "ctlrestart": "40000-49999"}
"""Each test's own public ports: the sink keeps every translated flow it saw, and a flow of
an earlier test on the same port would make this one's packets look reordered."""


def nat_options(name):
    return {**NAT_OPTIONS, "ports": RANGES[name]}

pytestmark = [pytest.mark.root, pytest.mark.timeout(300)]
DEAD_AFTER_S = 1.0
INTERVAL_S = 0.05
VICTIM = 1
RATE = 4000
FLOW_PACKETS = 100
DETECT_SLACK_S = 0.5
SWEEP_S = 0.2
"""The agents' sweep period: the kernel's counter updates lag at most this plus a pass (the
maps here are smaller than a pass's slice), docs/failover.md. Shorter than the default 0.5 s
so that the counters' check keeps its margin over the pass's own lateness."""
"""Beyond dead_after + the detector's tick: a loaded 2-core VM delays the controller's loop."""
SCALE_STALL_S = 1.5
"""More during a scale event: its steering write keeps the controller's loop busy (pure-Python
P4Runtime encoding), which delays the detector (heartbeats are read by threads meanwhile)."""


@pytest.fixture(scope="module")
def bed(tmp_path_factory):
    base = default_config()
    config = dataclasses.replace(base, nf=dataclasses.replace(base.nf, name="nat"))
    tb = Testbed(f"fo{os.getpid() % 100000}", config=config)
    tb.up(3, steer=False, reflect=True)
    try:
        yield tb, tmp_path_factory.mktemp("failover")
    finally:
        tb.down()


@pytest.fixture
def fresh(bed):
    """Every instance up and empty, and the sinks' flow records gone, before the test (the
    workloads reuse flow keys: an earlier test's records would count as reordering)."""
    tb = bed[0]
    for i in tb.topology().instances:
        set_link(tb, i, up=True)
        with NatTables.pinned(tb.pin_dir(instance_host(i))) as nat:
            flows = nat.flows()
            for key in list(flows.keys()):
                flows.delete(key)
    for pins in (tb.pin_dir("sink"), tb.returns_pin_dir):
        with BpfMap.pinned(str(pins / "sink_flows"), FlowKeyC, SinkFlow) as records:
            for key in list(records.keys()):
                records.delete(key)
    return bed


def set_link(tb, instance, up, then=lambda: None):
    """Instance ``instance``'s link from the switch up or down (down: its host is gone);
    ``then`` runs right after, and the time between the two is returned."""
    host = instance_host(instance)
    ifname = tb.topology().endpoint(host, "in").ifname
    with IPRoute(netns=tb.namespace(host)) as ipr:
        index = ipr.link_lookup(ifname=ifname)[0]
        at = time.monotonic()
        ipr.link("set", index=index, state="up" if up else "down")
        then()
    return at


def long_flows(tmp, name, seed, flows=300):
    """Flows that all last the whole trace (about 7.5 s), so each one's last packets come
    long after a failure in its first seconds."""
    spec = WorkloadSpec(flows=flows, concurrency=flows, rate_pps=RATE, one_way=True,
                        flow_size=Distribution("constant", FLOW_PACKETS),
                        dst_mac=gen_link().b.mac, seed=seed)
    return generate(tmp / f"{name}.pcap", spec)


def forward_ports(tb, instances):
    """Inside flow (canonical) → (instance, its forward entry), from the pinned maps."""
    out = {}
    for i in instances:
        with NatTables.pinned(tb.pin_dir(instance_host(i))) as nat:
            for key, entry in nat.entries().items():
                if not entry.reverse:
                    assert key not in out, "a forward entry is live at two instances"
                    out[key] = (i, entry)
    return out


def port_of(entry):
    return int.from_bytes(entry.new_sport.to_bytes(2, "little"), "big")


def control_plane(tb, tmp, name, dead_after=DEAD_AFTER_S):
    """The control plane over the management network, the controller declaring agents dead
    after ``dead_after`` s and the agents replicating every ``INTERVAL_S``, their maps swept
    every ``SWEEP_S``."""
    return management_services(
        tb, tmp / f"{name}.json", nf_options=nat_options(name),
        controller_extra=["--dead-after", str(dead_after), "--phase-timeout", "20"],
        agent_extra=["--replicate-interval", str(INTERVAL_S),
                     "--replicate-sweep-s", str(SWEEP_S)])


class Watch:
    """Asks the controller for its status through a console of its own: the control plane's
    console is busy for as long as a scale call runs."""

    def __init__(self, tb, plane: ControlPlane):
        self.console = Console(tb.namespace(tb.config.controller.host)).__enter__()
        self.address = plane.address

    def status(self):
        return self.console.call(self.address, CONTROLLER, "Status")

    def key_space(self):
        ks = self.status()["key_space"]
        return None if ks is None else key_space_from_json(ks)

    def failovers(self):
        return [FailoverOutcome.from_json(f) for f in self.status()["failovers"]]

    def close(self):
        self.console.__exit__(None, None, None)


def wait_failover(watch, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not (done := watch.failovers()):
        assert time.monotonic() < deadline, "no failover"
        time.sleep(0.01)
    return done[0]


def kill(plane, tb):
    """The victim's host dies: its agent is SIGKILLed and its data link goes down."""
    return set_link(tb, VICTIM, up=False, then=lambda: plane.kill_agent(VICTIM))


def traffic_with_failure(tb, tmp, name, first_scale, trigger):
    """Replay long flows; ``trigger(plane, watch, pool)`` returns when to kill the victim (and
    a scale event's future, if it started one)."""
    workload = long_flows(tmp, name, seed=len(name))
    with control_plane(tb, tmp, name) as plane, ThreadPoolExecutor(2) as pool:
        watch = Watch(tb, plane)
        try:
            plane.wait_registered(3)
            outcome = plane.scale_to(first_scale)
            assert outcome["ok"], outcome
            sink_before, gen_before = sink_received(tb), gen_returned(tb)
            sending = pool.submit(replay, tb.namespace("gen"), gen_link().a.ifname,
                                  workload.path, RATE)
            scale = trigger(plane, watch, pool)
            at_kill = watch.key_space()
            killed_at = kill(plane, tb)
            failover = wait_failover(watch)
            sent = sending.result().sent
            if scale is not None:
                scale.result()
            received = wait_until_stable(lambda: sink_received(tb), sink_before + sent)
            returned = wait_until_stable(lambda: gen_returned(tb), gen_before + sent)
            final = watch.key_space()
        finally:
            watch.close()
    assert final is not None
    survivors = sorted(final.instances)
    return dict(workload=workload, failover=failover, killed_at=killed_at,
                at_kill=at_kill, sent=sent, lost=sent - (received - sink_before),
                lost_back=sent - (returned - gen_before),
                entries=forward_ports(tb, survivors), survivors=survivors, final=final)


def check_failover(tb, run, stall=0.0):
    workload, failover = run["workload"], run["failover"]
    assert failover.ok, failover.to_json()
    assert failover.dead == (VICTIM,) and VICTIM not in run["final"].instances
    assert failover.lost == 0
    detected = failover.declared_at - run["killed_at"]
    assert detected <= DEAD_AFTER_S + DETECT_SLACK_S + stall, f"declared after {detected:.2f} s"
    resumed = failover.steered_at - run["killed_at"]

    entries = run["entries"]
    assert set(entries) == {f.canonical() for f in workload.flows}, "a flow lost its entry"
    with SinkCounters.pinned(tb.pin_dir("sink")) as sink:
        at_sink = sink.records()
    with SinkCounters.pinned(tb.returns_pin_dir) as gen:
        back = gen.records()
    expected = {}
    for flow in workload.flows:
        port = port_of(entries[flow.canonical()][1])
        translated = FlowKey(PUBLIC_INT, flow.dst, port, flow.dport, flow.proto)
        expected[FlowKey(*_lower_first(translated))] = flow
    assert set(at_sink) == set(expected), "a flow reached the sink with a second public port"
    per_flow_pps = RATE / len(workload.flows)
    counts_lost = []
    for key, flow in expected.items():
        size = workload.flows[flow]
        assert at_sink[key].next_seq == size, "a flow's last packet did not arrive"
        assert back[FlowKey(*_lower_first(flow))].next_seq == size, "a last reply was lost"
        counts_lost.append(at_sink[key].packets - entries[flow.canonical()][1].packets)
    homed = sum(1 for f in workload.flows
                if run["at_kill"].home(f.canonical()) == VICTIM)
    outage = run["lost"] / (homed * per_flow_pps) if homed else 0.0
    print(f"\nfailover: declared dead {detected:.3f} s after the kill, steering followed the "
          f"backups {resumed:.3f} s after it ({failover.moved} buckets, steer phase "
          f"{failover.seconds('steer'):.3f} s, takeover {failover.seconds('takeover'):.3f} s, "
          f"{failover.promoted} copies promoted); {run['lost']} packets lost on the way out "
          f"and {run['lost_back']} on the way back of {run['sent']}: an outage of about "
          f"{outage:.2f} s for the {homed} flows of the dead instance; NAT counters short by "
          f"at most {max(counts_lost)} packets per flow")
    assert outage <= resumed + DETECT_SLACK_S + stall
    assert min(counts_lost) >= 0
    assert max(counts_lost) <= per_flow_pps * (SWEEP_S + INTERVAL_S + DETECT_SLACK_S) + 1


def test_sigkill_in_normal_traffic_fails_over_to_the_backups_within_the_bound(fresh):
    tb, tmp = fresh

    def after_two_seconds(plane, watch, pool):
        time.sleep(2.0)

    run = traffic_with_failure(tb, tmp, "steady", 3, after_two_seconds)
    check_failover(tb, run)


def test_sigkill_in_the_middle_of_a_scale_event_fails_over_too(fresh):
    tb, tmp = fresh

    def during_switch(plane, watch, pool):
        time.sleep(1.5)
        scale = pool.submit(plane.scale_to, 3)
        while watch.status()["scale_phase"] not in ("switch", "migrate"):
            assert not scale.done(), scale.result()
            time.sleep(0.005)
        return scale

    run = traffic_with_failure(tb, tmp, "midscale", 2, during_switch)
    check_failover(tb, run, SCALE_STALL_S)


def test_restarted_agent_and_controller_resume_without_moving_a_flow(fresh):
    tb, tmp = fresh
    workload = long_flows(tmp, "restart", seed=5)
    with control_plane(tb, tmp, "restart", dead_after=5.0) as plane, \
            ThreadPoolExecutor(1) as pool:
        plane.wait_registered(3)
        assert plane.scale_to(3)["ok"]
        ks = key_space_from_json(plane.status()["key_space"])
        running = pool.submit(run_trace, tb, workload.path, RATE)
        time.sleep(2.0)
        held = set(forward_ports(tb, [VICTIM]))
        plane.kill_agent(VICTIM)
        plane.start_agent(VICTIM)
        time.sleep(1.5)
        report = running.result()
        status = plane.status()
        assert status["failovers"] == []
        assert key_space_from_json(status["key_space"]) == ks
        assert held <= set(forward_ports(tb, [VICTIM])), "a flow moved"
    assert report.problems() == []
    entries = forward_ports(tb, ks.instances)
    assert set(entries) == {f.canonical() for f in workload.flows}
    ports = [port_of(e) for _, e in entries.values()]
    assert len(set(ports)) == len(ports), "a public port serves two flows"


def test_a_controller_restart_changes_nothing_in_the_data_plane(fresh):
    tb, tmp = fresh
    workload = long_flows(tmp, "ctlrestart", seed=6)
    with control_plane(tb, tmp, "ctlrestart") as plane, ThreadPoolExecutor(1) as pool:
        plane.wait_registered(3)
        assert plane.scale_to(3)["ok"]
        ks = key_space_from_json(plane.status()["key_space"])
        plane.stop_controller()
        running = pool.submit(run_trace, tb, workload.path, RATE)
        time.sleep(1.5)
        plane.start_controller()
        assert plane.status()["reconciled"] == 0
        time.sleep(RESTART_GRACE_S + 2 * DEAD_AFTER_S)
        status = plane.status()
        assert status["failovers"] == []
        assert key_space_from_json(status["key_space"]) == ks
        assert {int(m["instance"]) for m in status["members"]} == {0, 1, 2}
        report = running.result()
    assert report.problems() == []
