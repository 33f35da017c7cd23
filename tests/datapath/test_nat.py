"""The NAT on one instance: the real nat.c through BPF_PROG_TEST_RUN, the real slow path."""

import asyncio

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

from s6nf.agent.test_run import XDP_DROP, XDP_REDIRECT
from s6nf.agent.verdicts import Reason
from s6nf.keys import FlowKey, bucket_of_bytes
from s6nf.keyspace import initial
from s6nf.nfs.kinds import SIM_MACS, nat_kind
from s6nf.nfs.nat import NatConfig
from s6nf.nfs.portpool import PortRange
from s6nf.nfs.sim import SimInstance
from tests.datapath.packets import tcp, udp

pytestmark = pytest.mark.root

PUBLIC = "198.51.100.7"
CONFIG = NatConfig(PUBLIC, PortRange(20000, 20999, shards=4, lease=8), idle_timeout_s=30,
                   close_linger_s=1)


def run(coro):
    return asyncio.run(coro)


async def instance(config=CONFIG):
    nat = SimInstance(nat_kind(config), 0, initial([0], 4096), defines={"MAX_FLOWS": 1024})
    await nat.start()
    return nat


def checksums_valid(frame: bytes) -> bool:
    pkt = Ether(frame)
    ip = pkt[IP]
    l4 = ip.payload
    fresh = Ether(bytes(pkt))
    del fresh[IP].chksum
    del fresh[IP].payload.chksum
    if isinstance(l4, UDP) and l4.chksum == 0:
        return bool(Ether(bytes(fresh))[IP].chksum == ip.chksum)
    rebuilt = Ether(bytes(fresh))
    return bool(rebuilt[IP].chksum == ip.chksum and rebuilt[IP].payload.chksum == l4.chksum)


def test_new_flow_is_translated_by_the_agent_then_by_the_kernel_and_replies_come_back():
    async def go():
        nat = await instance()
        try:
            syn = tcp("10.1.0.5", "203.0.113.9", 40000, 80, "S")
            assert nat.inject(0, syn) == XDP_DROP
            await nat.settle()
            assert len(nat.outputs) == 1
            direction, out = nat.outputs[0]
            first = Ether(out)
            assert direction == 0 and first[IP].src == PUBLIC and first[IP].dst == "203.0.113.9"
            assert 20000 <= first[TCP].sport <= 20999 and first[TCP].dport == 80
            assert (first.src, first.dst) == tuple(":".join(f"{b:02x}" for b in m)
                                                   for m in SIM_MACS[0])
            assert checksums_valid(out)
            port = first[TCP].sport

            ack = tcp("10.1.0.5", "203.0.113.9", 40000, 80, "A", payload=b"hello" * 30)
            assert nat.inject(0, ack) == XDP_REDIRECT
            fast = Ether(nat.outputs[1][1])
            assert (fast[IP].src, fast[TCP].sport) == (PUBLIC, port) and checksums_valid(
                nat.outputs[1][1])
            assert bytes(fast[TCP].payload) == b"hello" * 30

            reply = tcp("203.0.113.9", PUBLIC, 80, port, "SA")
            assert nat.inject(1, reply) == XDP_REDIRECT
            back = Ether(nat.outputs[2][1])
            assert nat.outputs[2][0] == 1
            assert (back[IP].src, back[IP].dst, back[TCP].sport, back[TCP].dport) == (
                "203.0.113.9", "10.1.0.5", 80, 40000)
            assert checksums_valid(nat.outputs[2][1])
            counts = nat.reasons()
            assert counts[Reason.PUNTED] == 1 and counts[Reason.FORWARD] == 2
        finally:
            await nat.close()

    run(go())


def test_packets_queued_behind_a_punted_one_leave_in_order_then_the_flow_turns_fast():
    async def go():
        nat = await instance()
        try:
            frames = [udp("10.1.0.6", "203.0.113.10", 5000, 53, payload=bytes([i]) * 8)
                      for i in range(6)]
            for frame in frames[:5]:
                assert nat.inject(0, frame) == XDP_DROP
            await nat.settle()
            assert [Ether(f)[UDP].load[0] for _, f in nat.outputs] == [0, 1, 2, 3, 4]
            assert nat.inject(0, frames[5]) == XDP_REDIRECT
            assert Ether(nat.outputs[-1][1])[UDP].load[0] == 5
            assert all(checksums_valid(f) for _, f in nat.outputs)
            counts = nat.reasons()
            assert counts[Reason.PUNTED] == 5 and counts[Reason.NOTE_READY] == 1
            assert nat.punt.pending() == 0
        finally:
            await nat.close()

    run(go())


def test_udp_without_checksum_keeps_none_and_unsolicited_replies_are_dropped():
    async def go():
        nat = await instance()
        try:
            frame = bytearray(udp("10.1.0.7", "203.0.113.11", 6000, 123))
            frame[14 + 20 + 6:14 + 20 + 8] = b"\0\0"
            nat.inject(0, bytes(frame))
            await nat.settle()
            assert Ether(nat.outputs[0][1])[UDP].chksum == 0
            stray = tcp("203.0.113.99", PUBLIC, 80, 20001, "SA")
            assert nat.inject(1, stray) == XDP_DROP
            await nat.settle()
            assert len(nat.outputs) == 1 and nat.nf.counters.unsolicited == 1
        finally:
            await nat.close()

    run(go())


def test_ports_are_unique_among_live_flows_and_return_on_expiry():
    async def go():
        config = NatConfig(PUBLIC, PortRange(30000, 30015, shards=2, lease=4),
                           idle_timeout_s=5, close_linger_s=1)
        nat = await instance(config)
        try:
            for i in range(20):
                nat.inject(0, udp(f"10.1.1.{i}", "203.0.113.12", 7000, 53))
            await nat.settle()
            ports = [Ether(f)[UDP].sport for _, f in nat.outputs]
            assert len(ports) == 16 and len(set(ports)) == 16
            assert nat.nf.counters.no_port == 4
            counts = nat.reasons()
            assert counts[Reason.PUNTED] == 20
            expired = await nat.nf.expire(now_ns=1 << 62)
            assert expired == 20
            assert nat.nf.flows.held() == []
            await asyncio.sleep(0.05)
            nat.outputs.clear()
            for i in range(16):
                nat.inject(0, udp(f"10.1.2.{i}", "203.0.113.12", 7000, 53))
            await nat.settle()
            again = {Ether(f)[UDP].sport for _, f in nat.outputs}
            assert again == set(ports)
        finally:
            await nat.close()

    run(go())


def test_reverse_entry_is_keyed_by_the_translated_flow():
    async def go():
        nat = await instance()
        try:
            nat.inject(0, tcp("10.1.0.8", "203.0.113.13", 41000, 443, "S"))
            await nat.settle()
            port = Ether(nat.outputs[0][1])[TCP].sport
            held = set(nat.nf.flows.held())
            assert held == {FlowKey.of("10.1.0.8", "203.0.113.13", 41000, 443, 6).canonical(),
                            FlowKey.of("203.0.113.13", PUBLIC, 443, port, 6).canonical()}
        finally:
            await nat.close()

    run(go())


def test_a_full_backlog_drops_and_counts_new_packets_and_the_flow_still_turns_fast():
    async def go():
        nat = await instance()
        try:
            nat.slow.max_backlog = 3
            frames = [udp("10.1.0.9", "203.0.113.14", 5001, 53, payload=bytes([i]) * 8)
                      for i in range(7)]
            for frame in frames[:6]:
                assert nat.inject(0, frame) == XDP_DROP
            await nat.settle()
            assert [Ether(f)[UDP].load[0] for _, f in nat.outputs] == [0, 1, 2]
            assert nat.slow.counters.overflowed == 3 and nat.slow.backlog == 0
            assert nat.inject(0, frames[6]) == XDP_REDIRECT
            assert Ether(nat.outputs[-1][1])[UDP].load[0] == 6
        finally:
            await nat.close()

    run(go())


def test_a_flow_whose_install_fails_leaves_no_entry_and_is_served_on_its_next_packet():
    from s6nf.agent.dso import CallTimeout

    async def go():
        nat = await instance()
        try:
            allocate = nat.nf.ports.allocate

            async def unreachable():
                raise CallTimeout("the shard's home did not answer")

            nat.nf.ports.allocate = unreachable
            frame = udp("10.1.0.10", "203.0.113.15", 5002, 53)
            assert nat.inject(0, frame) == XDP_DROP
            await nat.settle()
            assert nat.slow.counters.failed == 1 and nat.outputs == []
            assert nat.nf.flows.held() == []
            nat.nf.ports.allocate = allocate
            assert nat.inject(0, frame) == XDP_DROP
            await nat.settle()
            assert len(nat.outputs) == 1 and Ether(nat.outputs[0][1])[IP].src == PUBLIC
        finally:
            await nat.close()

    run(go())


def test_a_held_bucket_keeps_its_flows_entries_from_turning_ready_until_released():
    """A scale event handing the flow's bucket over (s6nf/agent/dso/handoff.py): an entry
    whose punted packets have all left stays with the agent while held, whatever the key
    space's size (the program's 4096 buckets and a key space's 64 share their low bits)."""
    async def go():
        nat = await instance()
        try:
            for of, sport in ((64, 5001), (4096, 5002)):
                frames = [udp("10.1.0.7", "203.0.113.11", sport, 53, payload=bytes([i]) * 8)
                          for i in range(4)]
                bucket = bucket_of_bytes(
                    FlowKey.of("10.1.0.7", "203.0.113.11", sport, 53, 17).canonical(), of)
                assert nat.inject(0, frames[0]) == XDP_DROP
                await nat.settle()
                nat.punt.hold(frozenset({bucket}), of)
                assert nat.inject(0, frames[1]) == XDP_DROP
                await nat.settle()
                nat.punt.hold(frozenset({(bucket + 1) % of}), of)
                assert nat.inject(0, frames[2]) == XDP_REDIRECT
                nat.punt.hold(frozenset(), of)
                assert nat.inject(0, frames[3]) == XDP_REDIRECT
            assert [Ether(f)[UDP].load[0] for _, f in nat.outputs] == [0, 1, 2, 3] * 2
            counts = nat.reasons()
            assert counts[Reason.PUNTED] == 4 and counts[Reason.NOTE_READY] == 2
        finally:
            await nat.close()

    run(go())
