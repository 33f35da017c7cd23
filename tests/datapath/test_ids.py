"""The IDS on one instance: the real ids.c through BPF_PROG_TEST_RUN, the real slow path,
rules from a file. Expected alerts are computed from the trace with plain conditions."""

import asyncio
import itertools
import json
import logging
import random
import socket

import pytest

from s6nf.agent.dso.keys import key_bytes
from s6nf.agent.test_run import XDP_DROP, XDP_REDIRECT
from s6nf.agent.verdicts import Reason
from s6nf.keys import FlowKey, bucket_of_bytes
from s6nf.keyspace import KeySpace, initial
from s6nf.nfs.ids import SETTINGS_KEY, IdsConfig
from s6nf.nfs.kinds import ids_kind
from s6nf.nfs.rules import RuleSet
from s6nf.nfs.sim import SimInstance
from s6nf.nfs.tcpstate import next_state
from tests.datapath.nf_trace import Conn, by_flow, interleave, packets_of, tcp_packet

pytestmark = pytest.mark.root

RULES = r"""
# web
alert tcp any any -> any 80 (msg:"admin page"; content:"/admin"; sid:1001; rev:1;)
alert tcp any any -> any [80,8080] (msg:"sql injection"; pcre:"/union\s+select/i"; sid:1002;)
alert tcp any 80 -> any any (msg:"server leaks a key"; content:"|2d 2d|BEGIN"; nocase; sid:1003;)
alert udp any any <> any 53 (msg:"dns tunnel"; content:"tunnel"; sid:1004;)
"""

EXPECTED_RULES = {
    1001: lambda p: p.proto == 6 and p.dport == 80 and b"/admin" in p.payload,
    1002: lambda p: p.proto == 6 and p.dport in (80, 8080)
    and _union_select(p.payload.lower()),
    1003: lambda p: p.proto == 6 and p.sport == 80 and b"--begin" in p.payload.lower(),
    1004: lambda p: p.proto == 17 and 53 in (p.sport, p.dport) and b"tunnel" in p.payload,
}


def _union_select(text):
    at = text.find(b"union")
    while at >= 0:
        rest = text[at + 5:]
        if rest[:1].isspace() and rest.lstrip().startswith(b"select"):
            return True
        at = text.find(b"union", at + 1)
    return False


WHITE = "10.1.0.99"
CONNS = [
    Conn("10.1.0.1", "10.9.0.1", 40001, 80, requests=[b"GET /admin HTTP/1.0\r\n\r\n", b"x"],
         responses=[b"HTTP/1.0 200 OK\r\n\r\n--begin RSA", b"y"]),
    Conn("10.1.0.2", "10.9.0.1", 40002, 80, requests=[b"GET /?q=1 UNION  SELECT pw"],
         responses=[b"no"]),
    Conn("10.1.0.2", "10.9.0.2", 40003, 8080, requests=[b"union\tselect", b"/admin"],
         responses=[b"ok", b"ok"]),
    Conn("10.1.0.3", "10.9.0.3", 40004, 22, requests=[b"/admin union select"],
         responses=[b"--BEGIN"]),
    Conn(WHITE, "10.9.0.1", 40005, 80, requests=[b"GET /admin"], responses=[b"--BEGIN"]),
    Conn("10.1.0.4", "10.9.0.4", 5353, 53, proto=17, requests=[b"a.tunnel.x", b"b"],
         responses=[b"tunnel-reply", b"c"]),
    Conn("10.1.0.5", "10.9.0.4", 5354, 53, proto=17, requests=[b"plain"], responses=[b"x"]),
]


def expected_alerts(conns):
    out = []
    for i, c in enumerate(conns):
        if c.client == WHITE:
            continue
        for p in packets_of(c, i):
            for sid, matches in EXPECTED_RULES.items():
                if p.payload and matches(p):
                    out.append((sid, p.src, p.sport, p.dst, p.dport))
    return sorted(out)


def run(coro):
    return asyncio.run(coro)


def config(tmp_path, **kw):
    path = tmp_path / "local.rules"
    path.write_text(RULES)
    return IdsConfig(RuleSet.load(path), whitelist=(WHITE,), **kw)


async def instance(cfg, **defines):
    ids = SimInstance(ids_kind(cfg), 0, initial([0], 4096), defines={"MAX_FLOWS": 1024,
                                                                     **defines})
    await ids.start()
    return ids


async def feed(ids, trace, seed):
    rng = random.Random(seed)
    for p in trace:
        ids.inject(p.direction, p.frame)
        if rng.random() < 0.3:
            await ids.settle()
    await ids.settle()
    await asyncio.sleep(0.02)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_alerts_equal_the_trace_and_every_flow_leaves_in_order(tmp_path, seed, caplog):
    async def go():
        ids = await instance(config(tmp_path, scan_threshold=50))
        try:
            trace = interleave(CONNS, seed)
            with caplog.at_level(logging.WARNING, logger="s6nf.ids.alerts"):
                await feed(ids, trace, seed)
            assert len(ids.outputs) == len(trace)
            want = {i: [p.frame[12:] for p in packets_of(c, i)] for i, c in enumerate(CONNS)}
            assert by_flow(ids.outputs, trace) == want
            got = sorted((a["sid"], a["src"], a["sport"], a["dst"], a["dport"])
                         for a in ids.nf.alerts)
            assert got == expected_alerts(CONNS)
            logged = [json.loads(r.getMessage()) for r in caplog.records
                      if r.name == "s6nf.ids.alerts"]
            assert logged == list(ids.nf.alerts)
            entries = {k: v for k, v in ids.nf.flows.storage.items()}
            for i, c in enumerate(CONNS):
                pkts = packets_of(c, i)
                e = entries[FlowKey.of(c.client, c.server, c.cport, c.sport, c.proto)
                            .canonical()]
                assert (e.packets, e.bytes) == (len(pkts), sum(len(p.frame) for p in pkts))
                state = 0
                for p in pkts:
                    state = next_state(state, p.flags) if c.proto == 6 else 0
                assert e.tcp_state == state
                assert e.inspect == (c.sport != 22 and c.client != WHITE and c.sport != 5354)
            assert ids.nf.counters.scans == 0 and ids.nf.counters.whitelisted == 1
        finally:
            await ids.close()

    run(go())


def test_a_flow_never_inspected_stays_in_the_kernel_after_its_first_packet(tmp_path):
    async def go():
        ids = await instance(config(tmp_path))
        try:
            c = Conn("10.1.0.6", "10.9.0.6", 41000, 22, requests=[b"a" * 50] * 5,
                     responses=[b"b" * 50] * 5)
            first, *rest = packets_of(c, 0)
            assert ids.inject(0, first.frame) == XDP_DROP
            await ids.settle()
            assert all(ids.inject(p.direction, p.frame) == XDP_REDIRECT for p in rest)
            assert ids.reasons()[Reason.PUNTED] == 1
        finally:
            await ids.close()

    run(go())


def test_payload_of_an_inspected_flow_goes_to_the_agent_and_later_packets_wait_behind_it(
        tmp_path):
    async def go():
        ids = await instance(config(tmp_path))
        try:
            c = Conn("10.1.0.7", "10.9.0.7", 41001, 80, requests=[b"GET /admin"],
                     responses=[b"ok"])
            syn, synack, ack, req, req_ack, resp, resp_ack, *_ = packets_of(c, 0)
            ids.inject(0, syn.frame)
            await ids.settle()
            assert ids.inject(1, synack.frame) == XDP_REDIRECT
            assert ids.inject(0, ack.frame) == XDP_REDIRECT
            assert ids.inject(0, req.frame) == XDP_DROP
            assert ids.inject(1, req_ack.frame) == XDP_DROP
            await ids.settle()
            assert ids.inject(1, resp.frame) == XDP_DROP
            await ids.settle()
            assert ids.inject(0, resp_ack.frame) == XDP_REDIRECT
            assert [f[12:] for _, f in ids.outputs] == [p.frame[12:] for p in (
                syn, synack, ack, req, req_ack, resp, resp_ack)]
            assert [a["sid"] for a in ids.nf.alerts] == [1001]
        finally:
            await ids.close()

    run(go())


FLAGS = ["S", "SA", "A", "PA", "F", "FA", "R", ""]


@pytest.mark.parametrize("kernel", [True, False], ids=["kernel", "agent"])
def test_kernel_and_agent_agree_on_tcp_state(tmp_path, kernel):
    """Every pair of flags after a flow's first packet, handled by the kernel (the agent
    settles after each packet, so the flow is ready) or by the agent (nothing settles)."""
    async def go():
        ids = await instance(config(tmp_path))
        try:
            wanted = {}
            n = 0
            for first in FLAGS:
                for a, b in itertools.product(FLAGS, repeat=2):
                    n += 1
                    c = Conn(f"10.1.{n >> 8}.{n & 0xFF}", "10.9.1.1", 42000, 2222)
                    state = 0
                    for i, f in enumerate((first, a, b)):
                        p = tcp_packet(c, n, i % 2 == 0, f)
                        ids.inject(p.direction, p.frame)
                        if kernel:
                            await ids.settle()
                        state = next_state(state, p.flags)
                    key = FlowKey.of(c.client, c.server, c.cport, c.sport, 6).canonical()
                    wanted[key] = (first, a, b, state)
            await ids.settle()
            got = {k: (*w[:3], ids.nf.flows.storage.read(k).tcp_state)
                   for k, w in wanted.items()}
            assert got == wanted
            punted = ids.reasons()[Reason.PUNTED]
            assert punted == (n if kernel else 3 * n)
        finally:
            await ids.close()

    run(go())


def test_a_port_scan_raises_one_alert_and_the_whitelist_is_exempt(tmp_path):
    async def go():
        ids = await instance(config(tmp_path, scan_threshold=10, scan_window_s=60))
        try:
            for src in ("10.6.6.6", WHITE):
                for port in range(1, 31):
                    c = Conn(src, "10.9.0.1", 50000, port, requests=[], responses=[],
                             close=False)
                    ids.inject(0, packets_of(c, 0)[0].frame)
            await ids.settle()
            await asyncio.sleep(0.02)
            scans = [a for a in ids.nf.alerts if a["event"] == "portscan"]
            assert len(scans) == 1
            assert scans[0]["src"] == "10.6.6.6" and scans[0]["distinct"] >= 10
        finally:
            await ids.close()

    run(go())


def test_a_flood_of_new_flows_is_counted_and_established_flows_go_on(tmp_path):
    async def go():
        ids = await instance(config(tmp_path, scan_threshold=1000), MAX_PEND=16)
        try:
            c = Conn("10.1.0.8", "10.9.0.8", 42000, 22, requests=[b"x"] * 30,
                     responses=[b"y"] * 30, close=False)
            est = packets_of(c, 0)
            ids.inject(0, est[0].frame)
            await ids.settle()
            passed = 0
            for i in range(200):
                src = socket.inet_ntoa(bytes([10, 7, i >> 8, i & 0xFF]))
                flood = Conn(src, "10.9.0.9", 1000, 80, requests=[], responses=[])
                assert ids.inject(0, packets_of(flood, 1)[0].frame) == XDP_DROP
                p = est[1 + i % (len(est) - 1)]
                passed += ids.inject(p.direction, p.frame) == XDP_REDIRECT
            assert passed == 200
            assert ids.reasons()[Reason.DROP_PEND_FULL] == 200 - 16
            await ids.settle()
            assert ids.nf.counters.new_flows == 1 + 16
        finally:
            await ids.close()

    run(go())


def test_a_new_flow_whose_checks_fail_is_dropped_and_not_forwarded_uninspected(tmp_path):
    """The settings' home cannot be reached: the first packet is dropped (``unchecked``) and
    the flow gets no entry, so its next packet goes to the agent again; a blank entry left
    behind would have been turned ready and the flow forwarded uninspected (fail open)."""
    async def go():
        owners = [0] * 4096
        owners[bucket_of_bytes(key_bytes(SETTINGS_KEY), 4096)] = 1
        ids = SimInstance(ids_kind(config(tmp_path)), 0, KeySpace(0, tuple(owners)),
                          config={"call_timeout_s": 0.3}, defines={"MAX_FLOWS": 1024})
        await ids.start()
        ids.agent.set_addresses({1: "127.0.0.1:9"})
        try:
            c = Conn("10.1.0.9", "10.9.0.9", 43000, 80, requests=[b"GET /admin"],
                     responses=[b"ok"])
            syn, synack, *_ = packets_of(c, 0)
            assert ids.inject(0, syn.frame) == XDP_DROP
            await ids.settle()
            assert ids.outputs == []
            assert dict(ids.nf.flows.storage.items()) == {}
            assert ids.inject(1, synack.frame) == XDP_DROP
            assert ids.nf.counters.unchecked == 1
            await ids.settle()
            assert ids.nf.counters.unchecked == 2 and ids.outputs == []
        finally:
            await ids.close()

    run(go())
