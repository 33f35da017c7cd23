"""Pinned maps outlive the loader: a restarted agent finds its instance's state (root only)."""

import os
import shutil
from pathlib import Path

import pytest

from s6nf.agent.loader import load
from s6nf.agent.maps import FlowTable
from s6nf.agent.structs import FlowStats
from s6nf.agent.test_run import run_xdp
from s6nf.keys import FlowKey, unpack_canonical
from tests.datapath import packets as pk

pytestmark = pytest.mark.root


@pytest.fixture
def pin_dir():
    path = Path("/sys/fs/bpf") / f"s6nf-test-{os.getpid()}" / "nf0"
    yield path
    shutil.rmtree(path.parent, ignore_errors=True)


def test_reloaded_program_finds_the_flows_of_the_one_before(pin_dir):
    first = load("monitor", pin_dir)
    with FlowTable.of(first) as table:
        table.configure(1, bytes(6), bytes(6))
    for _ in range(3):
        run_xdp(first.fd, pk.tcp())
    first.close()
    del first

    second = load("monitor", pin_dir)
    try:
        run_xdp(second.fd, pk.tcp())
        with FlowTable.pinned(pin_dir) as table:
            (stats,) = table.entries().values()
        assert stats.packets == 4
    finally:
        second.close()


def test_export_hands_over_a_bucket_and_import_restores_it(pin_dir):
    prog = load("monitor", pin_dir)
    try:
        keys = [FlowKey.of("10.1.0.1", "10.2.0.1", 1000 + i, 80, 6) for i in range(50)]
        with FlowTable.of(prog) as table:
            table.import_([(k.canonical(), bytes(FlowStats(packets=i + 1))) for i, k in
                           enumerate(keys)])
            moved = {keys[0].bucket(), keys[1].bucket()}
            exported = table.export(moved, 4096)
            left = table.entries()
            assert {unpack_canonical(k).bucket() for k, _ in exported} <= moved
            assert len(exported) + len(left) == 50
            assert not any(k.bucket() in moved for k in left)
            table.import_(exported)
            assert len(table.entries()) == 50
    finally:
        prog.close()



def test_agent_metrics_read_the_instances_pinned_maps(pin_dir):
    import asyncio

    from s6nf.agent.dso.agent import DsoAgent
    from s6nf.agent.dso.config import AgentConfig
    from s6nf.agent.dso.maps import Schema
    from s6nf.agent.process import agent_metrics
    from s6nf.keyspace import KeySpace

    prog = load("monitor", pin_dir, {"MAX_FLOWS": 128})
    try:
        with FlowTable.of(prog) as table:
            table.configure(1, bytes(6), bytes(6))
        for sport in (1, 2, 2):
            run_xdp(prog.fd, pk.udp(sport=sport))
        run_xdp(prog.fd, pk.udp(flags="MF"))

        async def render():
            dso = DsoAgent(AgentConfig(0), Schema([]), KeySpace(0, (0,) * 16))
            try:
                return agent_metrics(dso, pin_dir).render()
            finally:
                await dso.close()

        text = asyncio.run(render())
    finally:
        prog.close()
    assert 's6nf_datapath_packets_total{reason="forward"} 3' in text
    assert 's6nf_datapath_packets_total{reason="drop_fragment"} 1' in text
    assert 's6nf_datapath_flows{map="flows",what="entries"} 2' in text
    assert 's6nf_datapath_flows{map="flows",what="capacity"} 128' in text
    assert "s6nf_agent_epoch 0" in text
