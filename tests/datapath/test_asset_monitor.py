"""The asset monitor on one instance: the real monitor.c through BPF_PROG_TEST_RUN with the
punt path on, the real slow path, DSO objects for assets and totals. Expected values come
from the trace (tests/datapath/nf_trace.py)."""

import asyncio
import random
import socket
from typing import Any

import grpc
import pytest

from s6nf import cli_nf
from s6nf.agent.control import AgentControl
from s6nf.agent.maps import FlowTable
from s6nf.agent.test_run import XDP_DROP, XDP_REDIRECT
from s6nf.agent.verdicts import Reason
from s6nf.keys import FlowKey, bucket_of_bytes
from s6nf.keyspace import initial
from s6nf.nfs.kinds import SIM_MACS, monitor_kind
from s6nf.nfs.sim import SimInstance
from tests.datapath.nf_trace import Conn, by_flow, interleave, packets_of

pytestmark = pytest.mark.root

OS_OF = {(64, 29200): "linux/unix", (64, 65160): "linux/unix", (128, 64240): "windows",
         (64, 65535): "bsd/macos", (255, 4128): "network device/solaris",
         (57, 29200): "linux/unix", (116, 8192): "windows"}
"""The OS hint each (TTL, window) of the trace stands for, by the usual initial-TTL table."""

CONNS = [
    Conn("10.1.0.1", "10.9.0.1", 40001, 80),
    Conn("10.1.0.1", "10.9.0.1", 40002, 80, requests=[b"a" * 100, b"b" * 10],
         responses=[b"c" * 700, b"d"]),
    Conn("10.1.0.2", "10.9.0.1", 40003, 443, client_ttl=128, client_window=64240),
    Conn("10.1.0.3", "10.9.0.2", 40004, 22, client_ttl=64, client_window=65535,
         server_ttl=255, server_window=4128),
    Conn("10.1.0.4", "10.9.0.3", 40005, 8080, client_ttl=57, server_ttl=116,
         server_window=8192, close=False),
    Conn("10.1.0.2", "10.9.0.4", 5353, 53, proto=17, client_ttl=128, requests=[b"q1", b"q2"],
         responses=[b"r1", b"r2"]),
    Conn("10.1.0.5", "10.9.0.4", 5354, 53, proto=17, requests=[b"q"], responses=[b"r"]),
    Conn("10.1.0.5", "10.9.0.5", 6000, 123, proto=17, requests=[b"t"], responses=[]),
]


def expected_assets(conns):
    hosts: dict[str, dict[str, Any]] = {}

    def host(addr):
        return hosts.setdefault(addr, {"flows": 0, "services": {}, "prints": []})

    for c in conns:
        host(c.client)["flows"] += 1
        host(c.server)["flows"] += 1
        if c.proto == 17:
            name = f"udp/{c.sport}"
            host(c.server)["services"][name] = host(c.server)["services"].get(name, 0) + 1
        elif c.handshake:
            name = f"tcp/{c.sport}"
            host(c.server)["services"][name] = host(c.server)["services"].get(name, 0) + 1
            host(c.client)["prints"].append((c.client_ttl, c.client_window))
            host(c.server)["prints"].append((c.server_ttl, c.server_window))
    out = {}
    for addr, h in hosts.items():
        best = max(h["prints"], default=None)
        out[addr] = {"flows": h["flows"], "services": h["services"],
                     "os": OS_OF[best] if best else "", "ttl": best[0] if best else 0,
                     "window": best[1] if best else 0}
    return out


def run(coro):
    return asyncio.run(coro)


async def instance(**defines):
    mon = SimInstance(monitor_kind(), 0, initial([0], 4096),
                      defines={"MAX_FLOWS": 1024, **defines})
    await mon.start()
    return mon


async def feed(mon, trace, seed):
    """Inject the trace, letting the agent run at seeded random points (so flows turn ready
    at different moments, some mid-handshake)."""
    rng = random.Random(seed)
    for p in trace:
        mon.inject(p.direction, p.frame)
        if rng.random() < 0.3:
            await mon.settle()
    await mon.settle()
    await asyncio.sleep(0.02)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_assets_flows_and_totals_equal_what_the_trace_says(seed):
    async def go():
        mon = await instance()
        try:
            trace = interleave(CONNS, seed)
            await feed(mon, trace, seed)
            assert len(mon.outputs) == len(trace)
            want = {i: [p.frame[12:] for p in packets_of(c, i)] for i, c in enumerate(CONNS)}
            assert by_flow(mon.outputs, trace) == want
            assert all(f[:12] == SIM_MACS[d][1] + SIM_MACS[d][0] for d, f in mon.outputs)

            assets = mon.nf.assets()
            got = {a: {k: v[k] for k in ("flows", "services", "os", "ttl", "window")}
                   for a, v in assets.items()}
            assert got == expected_assets(CONNS)
            assert all(0 < v["first_seen_ns"] <= v["last_seen_ns"] for v in assets.values())
            totals = await mon.nf.totals_view()
            assert totals == {"new_tcp": 5, "new_udp": 3, "handshakes": 5}

            entries = {k: v for k, v in mon.nf.flows.storage.items()}
            for i, c in enumerate(CONNS):
                pkts = packets_of(c, i)
                key = FlowKey.of(c.client, c.server, c.cport, c.sport, c.proto).canonical()
                e = entries[key]
                assert (e.packets, e.bytes) == (len(pkts), sum(len(p.frame) for p in pkts))
                flags = 0
                for p in pkts:
                    flags |= p.flags
                assert e.tcp_flags == flags
                if c.proto == 6:
                    assert (e.client_ttl, e.client_window, e.server_ttl, e.server_window) == (
                        c.client_ttl, c.client_window, c.server_ttl, c.server_window)
                    assert e.synack_seen == 1
            counts = mon.reasons()
            assert counts[Reason.FORWARD] + counts[Reason.PUNTED] == len(trace)
            assert mon.slow.counters.reinjected == counts[Reason.PUNTED]
        finally:
            await mon.close()

    run(go())


def test_the_first_syn_ack_of_a_ready_flow_goes_to_the_agent_and_its_flow_behind_it():
    async def go():
        mon = await instance()
        try:
            c = Conn("10.1.0.7", "10.9.0.7", 41000, 80)
            syn, synack, ack, req, *_ = packets_of(c, 0)
            assert mon.inject(0, syn.frame) == XDP_DROP
            await mon.settle()
            assert mon.inject(1, synack.frame) == XDP_DROP
            assert mon.inject(0, ack.frame) == XDP_DROP
            await mon.settle()
            assert mon.inject(0, req.frame) == XDP_REDIRECT
            assert [f[12:] for _, f in mon.outputs] == [p.frame[12:]
                                                        for p in (syn, synack, ack, req)]
            counts = mon.reasons()
            assert counts[Reason.PUNTED] == 3 and counts[Reason.NOTE_READY] == 2
            assert mon.nf.counters.handshakes == 1
            assert mon.nf.assets()["10.9.0.7"]["services"] == {"tcp/80": 1}
        finally:
            await mon.close()

    run(go())


def test_a_flood_of_new_flows_fills_pend_and_is_counted_while_established_flows_go_on():
    async def go():
        mon = await instance(MAX_PEND=16)
        try:
            c = Conn("10.1.0.8", "10.9.0.8", 42000, 80, requests=[b"x"] * 40,
                     responses=[b"y"] * 40, close=False)
            est = packets_of(c, 0)
            for p in est[:3]:
                mon.inject(p.direction, p.frame)
                await mon.settle()
            flood = [Conn(socket.inet_ntoa(bytes([10, 7, i >> 8, i & 0xFF])), "10.9.0.9",
                          1000 + i, 80) for i in range(200)]
            passed = 0
            for i, fc in enumerate(flood):
                assert mon.inject(0, packets_of(fc, 1 + i)[0].frame) == XDP_DROP
                p = est[3 + i % (len(est) - 3)]
                passed += mon.inject(p.direction, p.frame) == XDP_REDIRECT
            assert passed == 200
            counts = mon.reasons()
            assert counts[Reason.DROP_PEND_FULL] == 200 - 16
            await mon.settle()
            assert mon.nf.counters.new_flows == 1 + 16
        finally:
            await mon.close()

    run(go())


def test_without_an_agent_the_kernel_still_creates_entries():
    async def go():
        mon = await instance()
        try:
            with FlowTable.of(mon.program) as table:
                table.punt_new_flows(False)
            c = Conn("10.1.0.9", "10.9.0.10", 43000, 80)
            for p in packets_of(c, 0):
                assert mon.inject(p.direction, p.frame) == XDP_REDIRECT
            (entry,) = mon.nf.flows.storage.items()
            assert entry[1].ready == 1 and entry[1].synack_seen == 1
            assert entry[1].packets == len(packets_of(c, 0))
        finally:
            await mon.close()

    run(go())


def query_of(nf):
    async def query(name):
        return await nf.queries()[name]()

    return query


def test_two_instances_share_assets_and_the_cli_query_merges_them():
    """Flows steered by bucket to two instances; each host's asset lives at its home; the
    control services' Assets answers, merged, are the trace's assets."""
    async def go():
        ks = initial([0, 1], 4096)
        mons = [SimInstance(monitor_kind(), i, ks, defines={"MAX_FLOWS": 1024})
                for i in (0, 1)]
        servers = []
        try:
            addresses = {i: await m.start() for i, m in enumerate(mons)}
            for m in mons:
                m.agent.set_addresses(addresses)
            trace = interleave(CONNS, 9)
            for p in trace:
                key = FlowKey.of(p.src, p.dst, p.sport, p.dport, p.proto).canonical()
                owner = mons[ks.owners[bucket_of_bytes(key, 4096)]]
                owner.inject(p.direction, p.frame)
                await owner.settle()
            for m in mons:
                await m.settle()
            await asyncio.sleep(0.1)
            controls = []
            for m in mons:
                server = grpc.aio.server()
                control = AgentControl(m.agent, query_of(m.nf))
                server.add_generic_rpc_handlers((control.handler(),))
                controls.append(f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}")
                await server.start()
                servers.append(server)
            homes = [set(m.nf.assets()) for m in mons]
            assert homes[0] and homes[1] and not homes[0] & homes[1]
            report = await cli_nf.fetch(controls)
            got = {a: {k: v[k] for k in ("flows", "services", "os", "ttl", "window")}
                   for a, v in report["assets"].items()}
            assert got == expected_assets(CONNS)
            assert report["totals"] == {"new_tcp": 5, "new_udp": 3, "handshakes": 5}
            table = cli_nf.format_table(report)
            assert "10.9.0.2" in table and "network device/solaris" in table
            assert table.splitlines()[-1].startswith(f"{len(got)} assets;")
        finally:
            for server in servers:
                await server.stop(None)
            for m in mons:
                await m.close()

    run(go())
