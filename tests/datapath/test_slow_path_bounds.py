"""The slow path's bounded queue for all three NFs: a flood of new flows that overruns the
punt ring is dropped and counted in the kernel (DROP_PUNT_FULL), a new flow's frame too big
to punt is dropped and counted (DROP_PUNT_TOO_BIG), every packet the ring took is finished
by the agent, and an established flow never waits on any of it (docs/hostile-input.md)."""

import asyncio
import socket

import pytest
from scapy.compat import raw
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from s6nf.agent.test_run import XDP_DROP, XDP_REDIRECT, run_xdp
from s6nf.agent.verdicts import Reason
from s6nf.keyspace import initial
from s6nf.nfs.ids import IdsConfig
from s6nf.nfs.kinds import ids_kind, monitor_kind, nat_kind
from s6nf.nfs.nat import NatConfig
from s6nf.nfs.portpool import PortRange
from s6nf.nfs.rules import RuleSet
from s6nf.nfs.sim import SimInstance

pytestmark = pytest.mark.root
FLOOD = 500
KINDS = [nat_kind(NatConfig("198.51.100.8", PortRange(1024, 65535))), monitor_kind(),
         ids_kind(IdsConfig(RuleSet.parse(['alert udp any any -> any 53 (msg:"x"; '
                                           'content:"zz"; sid:1;)']), scan_threshold=10_000))]
ESTABLISHED = raw(Ether() / IP(src="10.7.0.1", dst="203.0.113.1") / UDP(sport=4321, dport=443)
                  / b"payload")


def new_flow(i: int, size: int = 64) -> bytes:
    src = socket.inet_ntoa(bytes([10, 8, i >> 8, i & 0xFF]))
    return raw(Ether() / IP(src=src, dst="203.0.113.2") / UDP(sport=999, dport=53)
               / bytes(size))


async def instance(kind, **defines):
    nf = SimInstance(kind, 0, initial([0], 4096), defines=defines)
    await nf.start()
    nf.inject(0, ESTABLISHED)
    await nf.settle()
    assert nf.inject(0, ESTABLISHED) == XDP_REDIRECT
    return nf


@pytest.mark.parametrize("kind", KINDS, ids=["nat", "monitor", "ids"])
def test_a_flood_that_overruns_the_punt_ring_is_counted_and_spares_established_flows(kind):
    async def go():
        nf = await instance(kind, PUNT_RING_PAGES=1)
        try:
            before = nf.reasons()
            forwarded = 0
            for i in range(FLOOD):
                assert run_xdp(nf.fds[0], new_flow(i)).action == XDP_DROP
                forwarded += run_xdp(nf.fds[0], ESTABLISHED).action == XDP_REDIRECT
            assert forwarded == FLOOD
            after = nf.reasons()
            punted = after[Reason.PUNTED] - before.get(Reason.PUNTED, 0)
            full = after[Reason.DROP_PUNT_FULL] - before.get(Reason.DROP_PUNT_FULL, 0)
            assert 0 < punted < FLOOD // 4 and punted + full == FLOOD
            taken = nf.slow.counters.punted
            await nf.settle()
            slow = nf.slow.counters
            assert slow.punted - taken == punted
            assert slow.failed == 0 and slow.malformed == 0
            assert slow.reinjected + slow.dropped_by_nf == slow.punted
        finally:
            await nf.close()

    asyncio.run(go())


@pytest.mark.parametrize("kind", KINDS, ids=["nat", "monitor", "ids"])
def test_a_new_flow_too_big_to_punt_is_dropped_and_counted(kind):
    async def go():
        nf = await instance(kind)
        try:
            before = nf.reasons().get(Reason.DROP_PUNT_TOO_BIG, 0)
            for i in range(10):
                assert nf.inject(0, new_flow(i, size=2100)) == XDP_DROP
                assert nf.inject(0, ESTABLISHED) == XDP_REDIRECT
            assert nf.reasons()[Reason.DROP_PUNT_TOO_BIG] - before == 10
            await nf.settle()
            assert nf.slow.counters.failed == 0
        finally:
            await nf.close()

    asyncio.run(go())
