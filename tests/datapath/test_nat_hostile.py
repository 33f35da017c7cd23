"""Hostile input through the NAT, kernel and agent together: a flood of new flows against a
small pending map, a full flow map. Nothing crashes, every punted packet is re-injected or
counted as dropped, and an established flow keeps being translated in the kernel (fuzzed
frames: tests/datapath/test_fuzz.py)."""

import asyncio

import pytest

from s6nf.agent.test_run import XDP_REDIRECT
from s6nf.agent.verdicts import Reason
from s6nf.keyspace import initial
from s6nf.nfs.kinds import nat_kind
from s6nf.nfs.nat import NatConfig
from s6nf.nfs.portpool import PortRange
from s6nf.nfs.sim import SimInstance
from tests.datapath.packets import tcp, udp

pytestmark = pytest.mark.root
PUBLIC = "198.51.100.8"
ESTABLISHED = tcp("10.7.0.1", "203.0.113.1", 4321, 80, "A")


async def instance(flows=4096, pend=1024):
    nat = SimInstance(nat_kind(NatConfig(PUBLIC, PortRange(1024, 65535))), 0,
                      initial([0], 4096), defines={"MAX_FLOWS": flows, "MAX_PEND": pend})
    await nat.start()
    nat.inject(0, ESTABLISHED)
    await nat.settle()
    assert nat.inject(0, ESTABLISHED) == XDP_REDIRECT
    nat.outputs.clear()
    return nat


def accounted(nat) -> int:
    """Punted packets that left or were counted as dropped by the agent."""
    c = nat.slow.counters
    return int(c.reinjected + c.dropped_by_nf + c.failed + c.overflowed)


def test_a_flood_of_new_flows_meets_a_full_pending_map_and_spares_established_flows():
    async def go():
        nat = await instance(pend=64)
        try:
            for i in range(1000):
                nat.inject(0, udp(f"10.8.{i // 256}.{i % 256}", "203.0.113.2", 999, 53))
                if i % 50 == 0:
                    assert nat.inject(0, ESTABLISHED) == XDP_REDIRECT
            counts = nat.reasons()
            assert counts[Reason.DROP_PEND_FULL] >= 1000 - 64
            assert counts[Reason.PUNTED] - 1 + counts[Reason.DROP_PEND_FULL] == 1000
            await nat.settle()
            assert accounted(nat) == nat.slow.counters.punted
            assert nat.punt.pending() == 64
            assert nat.slow.sweep() == 0
            assert nat.slow.sweep() == 64
            assert nat.punt.pending() == 0
            for i in range(1000, 1100):
                nat.inject(0, udp(f"10.8.{i // 256}.{i % 256}", "203.0.113.2", 999, 53))
            await nat.settle()
            assert nat.reasons()[Reason.DROP_PEND_FULL] == counts[Reason.DROP_PEND_FULL] + 36
        finally:
            await nat.close()

    asyncio.run(go())


def test_a_full_flow_map_refuses_new_flows_and_keeps_established_ones():
    async def go():
        nat = await instance(flows=64)
        try:
            for i in range(100):
                nat.inject(0, udp(f"10.9.{i // 256}.{i % 256}", "203.0.113.3", 999, 53))
                await nat.settle()
                assert nat.inject(0, ESTABLISHED) == XDP_REDIRECT
            held = len(nat.nf.flows.held())
            assert held <= 64
            assert nat.nf.counters.table_full > 0 and nat.slow.counters.failed == 0
            assert accounted(nat) == nat.slow.counters.punted
        finally:
            await nat.close()

    asyncio.run(go())
