"""A full per-flow map in the asset monitor and the IDS: a flood of new flows larger than
the map is refused by the documented policy (docs/hostile-input.md) — the new flow gets no
entry, its packet is still forwarded (both NFs only watch traffic), the refusal is counted —
while the flows that have entries, the established one included, go on in the kernel and
nothing in the agent fails."""

import asyncio
import socket

import pytest

from s6nf.agent.test_run import XDP_REDIRECT
from s6nf.agent.verdicts import Reason
from s6nf.keyspace import initial
from s6nf.nfs.ids import IdsConfig
from s6nf.nfs.kinds import ids_kind, monitor_kind
from s6nf.nfs.rules import RuleSet
from s6nf.nfs.sim import SimInstance
from tests.datapath.nf_trace import Conn, packets_of

pytestmark = pytest.mark.root
MAX_FLOWS = 64
FLOOD = 200
RULES = RuleSet.parse(['alert tcp any any -> any 80 (msg:"x"; content:"xxxx"; sid:1;)'])


@pytest.mark.parametrize("kind", [monitor_kind(), ids_kind(IdsConfig(RULES,
                                                                     scan_threshold=10_000))],
                         ids=["monitor", "ids"])
def test_a_full_flow_map_refuses_new_flows_counted_and_keeps_established_ones(kind):
    async def go():
        nf = SimInstance(kind, 0, initial([0], 4096), defines={"MAX_FLOWS": MAX_FLOWS})
        await nf.start()
        try:
            c = Conn("10.1.0.8", "10.9.0.8", 42000, 22, requests=[b"x"] * 30,
                     responses=[b"y"] * 30, close=False)
            est = packets_of(c, 0)
            for p in est[:3]:
                nf.inject(p.direction, p.frame)
                await nf.settle()
            nf.outputs.clear()
            punted_before = nf.reasons()[Reason.PUNTED]
            forwarded = 0
            for i in range(FLOOD):
                src = socket.inet_ntoa(bytes([10, 7, i >> 8, i & 0xFF]))
                flood = Conn(src, "10.9.0.9", 1000 + i, 80, requests=[], responses=[])
                nf.inject(0, packets_of(flood, 1 + i)[0].frame)
                await nf.settle()
                p = est[3 + i % (len(est) - 3)]
                forwarded += nf.inject(p.direction, p.frame) == XDP_REDIRECT
            assert forwarded == FLOOD
            slow = nf.slow.counters
            refused = nf.nf.counters.table_full
            assert refused >= FLOOD - MAX_FLOWS
            assert slow.failed == 0 and nf.agent.micro.failures == 0
            assert nf.reasons()[Reason.PUNTED] - punted_before == FLOOD
            assert slow.reinjected == slow.punted
            flood_out = [f for d, f in nf.outputs if d == 0 and f[26:28] == bytes([10, 7])]
            assert len(flood_out) == FLOOD
        finally:
            await nf.close()

    asyncio.run(go())
