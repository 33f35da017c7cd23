"""Hostile frames through the asset monitor and the IDS with their agents attached: every
frame counted under one reason, the agent survives what the kernel punts to it, and an
established flow's packets all still leave on the fast path."""

import asyncio

import pytest

from s6nf.agent.fuzz import run_campaign, verdicts
from s6nf.keyspace import initial
from s6nf.nfs.ids import IdsConfig
from s6nf.nfs.kinds import ids_kind, monitor_kind
from s6nf.nfs.rules import RuleSet
from s6nf.nfs.sim import SimInstance
from tests.datapath import packets as pk

pytestmark = pytest.mark.root
FRAMES = 5_000
SYN = pk.tcp(src="10.9.0.1", dst="10.9.0.2", sport=1234, dport=80, flags="S")
SYNACK = pk.tcp(src="10.9.0.2", dst="10.9.0.1", sport=80, dport=1234, flags="SA")
ESTABLISHED = pk.tcp(src="10.9.0.1", dst="10.9.0.2", sport=1234, dport=80, flags="A")
RULES = RuleSet.parse(['alert ip any any -> any any (msg:"x"; content:"xxxx"; sid:1;)'])


@pytest.mark.parametrize("kind", [monitor_kind(), ids_kind(IdsConfig(RULES))],
                         ids=["monitor", "ids"])
def test_hostile_frames_are_counted_and_the_agent_and_established_flows_go_on(kind):
    async def go():
        nf = SimInstance(kind, 0, initial([0], 4096), defines={"MAX_FLOWS": 4096})
        await nf.start()
        try:
            for frame in (SYN, SYNACK, ESTABLISHED):
                nf.inject(0, frame)
                await nf.settle()
            before = verdicts(nf.reasons())
            result = run_campaign(nf.program, 7, FRAMES, ESTABLISHED)
            assert verdicts(nf.reasons()) - before == result.frames + result.established_sent
            assert result.established_forwarded == result.established_sent
            await nf.settle()
            assert nf.slow.counters.punted > FRAMES // 20
            assert nf.slow.counters.failed == 0 and nf.slow.counters.malformed == 0
            assert nf.slow.counters.reinjected + nf.slow.counters.dropped_by_nf == \
                nf.slow.counters.punted
        finally:
            await nf.close()

    asyncio.run(go())
