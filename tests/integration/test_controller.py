"""The controller on the embedded testbed: agents in their own processes, steering over
P4Runtime to the eBPF target, scale 1 → 2 → 4 → 1, a controller restart (root only)."""

import asyncio
import os
import time

import pytest

from s6nf.agent.maps import SteeringMaps
from s6nf.agent.p4rt import serve
from s6nf.agent.p4rt.ebpf_backend import EbpfBackend
from s6nf.agent.structs import FwdTarget
from s6nf.controller.app import Controller, ControllerSettings
from s6nf.controller.model import Steer
from s6nf.controller.p4rt_client import DeviceConfig
from s6nf.keyspace import minimum_moves
from s6nf.testbed.agents import agent_processes
from s6nf.testbed.run import run_trace
from s6nf.testbed.testbed import Testbed
from s6nf.testbed.topology import gen_link, port_of
from s6nf.testbed.traffic import write_flows

pytestmark = [pytest.mark.root, pytest.mark.timeout(180)]
INSTANCES = 4


@pytest.fixture(scope="module")
def bed(tmp_path_factory):
    tb = Testbed(f"ic{os.getpid() % 100000}")
    tb.up(INSTANCES, steer=False)
    maps = SteeringMaps.pinned(tb.pin_dir("sw"))
    # Not preloaded: the controller itself pushes the pipeline (its read-backs need it).
    with serve(EbpfBackend(maps), "127.0.0.1:0", device_id=1) as target:
        yield tb, target, tmp_path_factory.mktemp("ctl")
    maps.close()
    tb.down()


async def wait_registered(controller, count, timeout=20.0):
    deadline = time.monotonic() + timeout
    while len(controller.state.members) < count:
        assert time.monotonic() < deadline, f"only {sorted(controller.state.members)} registered"
        await asyncio.sleep(0.05)


def check_traffic(tb, trace, ks):
    report = run_trace(tb, trace.path)
    assert report.problems() == []
    for instance, flows in report.delta_flows().items():
        for key in flows:
            assert ks.owner(key.bucket(ks.buckets)) == instance


def test_scale_steps_restart_and_reconcile(bed):
    tb, target, tmp = bed
    settings = ControllerSettings("127.0.0.1:0", DeviceConfig(target.address),
                                  tmp / "state.json", phase_timeout_s=20)
    trace = write_flows(tmp / "t.pcap", 1000, 2, seed=3, dst_mac=gen_link().b.mac)

    async def scenario():
        async with Controller(settings) as controller:
            with agent_processes(tb, f"127.0.0.1:{controller.port}", "127.0.0.1"):
                await wait_registered(controller, INSTANCES)
                previous = None
                for count in (1, 2, 4, 1):
                    outcome = await controller.scale_to(count)
                    assert outcome.ok, outcome.to_json()
                    ks = controller.state.key_space
                    assert ks is not None and len(ks.instances) == count
                    if previous is not None:
                        assert len(previous.moved(ks)) == minimum_moves(previous,
                                                                        sorted(ks.instances))
                        assert outcome.moved == len(previous.moved(ks))
                    read_back = await controller.p4rt.read_key_space()
                    members = controller.state.members
                    assert read_back == {b: members[ks.owner(b)].steer
                                         for b in range(ks.buckets)}
                    await asyncio.to_thread(check_traffic, tb, trace, ks)
                    previous = ks
                await controller.scale_to(2)
        return controller.state.key_space

    ks = asyncio.run(scenario())
    check_traffic(tb, trace, ks)

    with SteeringMaps.pinned(tb.pin_dir("sw")) as maps:
        wrong_bucket = 7
        maps.apply_key_space({wrong_bucket: FwdTarget.of(port_of(3), bytes(6))})

    async def restart():
        async with Controller(settings) as controller:
            assert controller.state.key_space == ks
            assert set(controller.reconciled) == {wrong_bucket}
            owner = ks.owner(wrong_bucket)
            assert controller.reconciled[wrong_bucket] == controller.state.members[owner].steer
        async with Controller(settings) as controller:
            assert controller.reconciled == {}
            assert isinstance(controller.state.members[0].steer, Steer)

    asyncio.run(restart())
    check_traffic(tb, trace, ks)
