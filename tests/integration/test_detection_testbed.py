"""Failure detection that tells a dead agent from a busy one, on the embedded testbed: the
controller and three agents in their own processes over the management network (root only).

An agent whose event loop is held for 3 s (the agent's ``Stall`` rehearsal call: Python
work, or a C call that keeps the GIL as a full garbage collection does) goes on beating from
its heartbeat process and is not failed over with ``--dead-after 1``; a frozen agent
(SIGSTOP) and a killed one (SIGKILL, while a survivor is busy) are declared dead within the
bound; a loop stalled past ``--wedged-after`` is declared dead although the agent still
beats. Frozen and wedged agents that come back register again as standbys.
"""

import os
import signal
import threading
import time

import pytest

from s6nf.agent.control import SERVICE as AGENT
from s6nf.agent.control import key_space_from_json
from s6nf.controller.failover import FailoverOutcome
from s6nf.testbed.console import Console
from s6nf.testbed.services import CONTROLLER, management_services
from s6nf.testbed.testbed import Testbed

pytestmark = [pytest.mark.root, pytest.mark.timeout(240)]
DEAD_AFTER_S = 1.0
DETECT_SLACK_S = 0.5
"""Beyond dead_after: the last beat was up to one period (0.2 s) before the signal, plus the
detector's tick (50 ms) and a loaded 2-core VM's scheduling."""
BUSY_S = 3.0


@pytest.fixture(scope="module")
def bed(tmp_path_factory):
    tb = Testbed(f"hb{os.getpid() % 100000}")
    tb.up(3, steer=False)
    try:
        yield tb, tmp_path_factory.mktemp("detect")
    finally:
        tb.down()


class Watch:
    """The controller's status through a console of its own (the plane's console may be busy
    with a blocking call meanwhile)."""

    def __init__(self, tb, plane):
        self.console = Console(tb.namespace(tb.config.controller.host)).__enter__()
        self.address = plane.address

    def status(self):
        return self.console.call(self.address, CONTROLLER, "Status")

    def failovers(self):
        return [FailoverOutcome.from_json(f) for f in self.status()["failovers"]]

    def close(self):
        self.console.__exit__(None, None, None)


def running(tb, tmp, name, *controller_extra):
    """Three agents, the key space over all three, and a watch; yields (plane, watch)."""
    services = management_services(
        tb, tmp / f"{name}.json",
        controller_extra=["--dead-after", str(DEAD_AFTER_S), "--phase-timeout", "20",
                          *controller_extra])

    class Running:
        def __enter__(self):
            self.plane = services.__enter__()
            try:
                self.plane.wait_registered(3)
                outcome = self.plane.scale_to(3)
                assert outcome["ok"], outcome
                self.watch = Watch(tb, self.plane)
            except BaseException:
                services.__exit__(None, None, None)
                raise
            return self.plane, self.watch

        def __exit__(self, *exc):
            self.watch.close()
            services.__exit__(*exc)

    return Running()


def control_of(watch, instance):
    return next(m["control"] for m in watch.status()["members"] if m["instance"] == instance)


def stall(plane, watch, instance, seconds, how="compute"):
    """Instance ``instance``'s event loop held for ``seconds``; returns when it answered."""
    reply = plane.console.call(control_of(watch, instance), AGENT, "Stall",
                               {"seconds": seconds, "how": how}, timeout_s=seconds + 10)
    assert reply["stalled_s"] >= seconds


def wait_failover(watch, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not (done := watch.failovers()):
        assert time.monotonic() < deadline, "no failover"
        time.sleep(0.01)
    return done[0]


def wait_member(watch, instance, timeout=15.0):
    deadline = time.monotonic() + timeout
    while instance not in [m["instance"] for m in watch.status()["members"]]:
        assert time.monotonic() < deadline, f"instance {instance} did not register again"
        time.sleep(0.05)


@pytest.mark.parametrize("how", ["compute", "hold"])
def test_an_agent_busy_for_3_s_is_not_failed_over(bed, how):
    tb, tmp = bed
    with running(tb, tmp, f"busy{how}") as (plane, watch):
        before = time.monotonic()
        stall(plane, watch, 1, BUSY_S, how)
        held = time.monotonic() - before
        time.sleep(0.5)
        status = watch.status()
    assert held >= BUSY_S
    assert status["failovers"] == []
    assert sorted(m["instance"] for m in status["members"]) == [0, 1, 2]
    assert key_space_from_json(status["key_space"]).instances == {0, 1, 2}
    liveness = status["liveness"]["1"]
    assert BUSY_S - 0.5 < liveness["max_stalled_s"] < BUSY_S + 1.0, liveness
    assert liveness["heard_s_ago"] < 0.5 and liveness["stalled_s"] < 0.5, liveness


def test_a_frozen_agent_is_declared_dead_within_the_bound_and_rejoins_thawed(bed):
    tb, tmp = bed
    with running(tb, tmp, "frozen") as (plane, watch):
        frozen_at = time.monotonic()
        plane.signal_agent(1, signal.SIGSTOP)
        try:
            failover = wait_failover(watch)
        finally:
            plane.signal_agent(1, signal.SIGCONT)
        wait_member(watch, 1)
        status = watch.status()
    detect = failover.declared_at - frozen_at
    print(f"frozen: declared dead {detect:.3f} s after SIGSTOP (silent {failover.silent_s:.3f} s)")
    assert failover.dead == (1,) and failover.ok, failover
    assert DEAD_AFTER_S - 0.25 < detect <= DEAD_AFTER_S + DETECT_SLACK_S
    assert 1 not in key_space_from_json(status["key_space"]).instances


def test_a_killed_agent_is_declared_dead_within_the_bound_while_a_survivor_is_busy(bed):
    tb, tmp = bed
    with running(tb, tmp, "killed") as (plane, watch):
        busy = Console(tb.namespace(tb.config.controller.host)).__enter__()
        try:
            survivor = control_of(watch, 0)
            stalling = threading.Thread(target=busy.call, args=(
                survivor, AGENT, "Stall", {"seconds": BUSY_S}), kwargs={"timeout_s": 20})
            stalling.start()
            time.sleep(0.3)
            killed_at = time.monotonic()
            plane.kill_agent(2)
            failover = wait_failover(watch)
            stalling.join()
        finally:
            busy.__exit__(None, None, None)
        status = watch.status()
    detect = failover.declared_at - killed_at
    print(f"killed: declared dead {detect:.3f} s after SIGKILL, survivor 0 busy; "
          f"takeover {failover.seconds('takeover'):.3f} s")
    assert failover.dead == (2,) and failover.ok, failover
    assert DEAD_AFTER_S - 0.25 < detect <= DEAD_AFTER_S + DETECT_SLACK_S
    assert failover.seconds("takeover") >= BUSY_S - 0.3 - detect - 0.2, \
        "the survivor's takeover did not wait for its busy loop: was it busy?"
    assert sorted(m["instance"] for m in status["members"]) == [0, 1]


def test_an_agent_wedged_past_the_bound_is_declared_dead_though_it_beats(bed):
    tb, tmp = bed
    wedged_after = 2.0
    with running(tb, tmp, "wedged", "--wedged-after", str(wedged_after)) as (plane, watch):
        stalled_at = time.monotonic()
        stall(plane, watch, 1, wedged_after + 2.0)
        failover = wait_failover(watch)
        wait_member(watch, 1)
        status = watch.status()
    detect = failover.declared_at - stalled_at
    print(f"wedged: declared dead {detect:.3f} s after its loop stalled "
          f"(reported stall {failover.silent_s:.3f} s)")
    assert failover.dead == (1,) and failover.ok, failover
    assert wedged_after < failover.silent_s < wedged_after + DETECT_SLACK_S
    assert wedged_after < detect <= wedged_after + 0.2 + DETECT_SLACK_S
    assert 1 not in key_space_from_json(status["key_space"]).instances
