"""The trace model: flows, each a script of packets in both directions, interleaved.

A trace is data that shrinks well: a list of flow specs and a list of *picks* (which flow
sends its next packet). ``steps()`` expands it deterministically. Forward packets are known
in advance; a reply answers one forward packet of its flow and is addressed to that packet's
*translated* address and port, which exist only once the NAT has sent it on, so the driver
builds reply frames when it reaches them (``reply_frame``), from the run's own output.

Every frame carries a tag in its payload (flow, direction, number), which the NAT leaves
alone, so outputs are attributed to their flow and packet without knowing the translation.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass
from functools import cache
from typing import Any

from s6nf.keys import IPPROTO_TCP, IPPROTO_UDP, FlowKey
from s6nf.nfs.frames import TCP_FIN, parse
from s6nf.testbed.frames import FrameTemplate

FORWARD, REPLY = 0, 1
TCP_SYN, TCP_ACK = 0x02, 0x10
TAG = struct.Struct("!4sIBH")
MAGIC = b"S6EQ"
_IN_MAC = "02:53:45:51:00:01"
INSIDE_NET = 0x0A010000
"""10.1.0.0: inside hosts."""
SERVER_NET = 0xCB007100
"""203.0.113.0: servers."""
TCP_SERVICES = (80, 8080, 443)
UDP_SERVICES = (53, 123)
"""Service ports of a trace with ``hosts``; the IDS checker's rules name 80, 8080 and 53."""
TRIGGERS = (b"GET /ADMIN/panel HTTP/1.0", b"\xde\xad\xbe\xef leak", b"user=root;pass=",
            b"\x07example\x03com", b"nothing to see")
"""Payload bytes some packets carry after their tag (``FlowSpec.marks``): the IDS checker's
rules match the first four (content, content either way, pcre, content and pcre) on the
right ports and directions; the last matches nothing."""


@dataclass(frozen=True)
class FlowSpec:
    """One connection: a TCP handshake, data and close, or a few UDP datagrams."""

    tcp: bool
    data: int
    """Forward data packets (TCP, after the handshake) or datagrams (UDP, at least one)."""
    answers: int
    """Bit i set: the server answers forward packet i (TCP: the SYN and FIN always are)."""
    marks: int = 0
    """Bit i set: the flow's packet i (in script order, both directions) carries one of
    ``TRIGGERS`` after its tag (which one depends on the flow and i): what the IDS's rules
    look for."""


@dataclass(frozen=True)
class Step:
    """One packet of a trace."""

    flow: int
    direction: int
    """FORWARD (inside → server) or REPLY (server → the translated address)."""
    n: int
    """Its number among its flow's packets of this direction, from 0."""
    flags: int
    """TCP flags (0 for UDP)."""
    size: int
    """Payload bytes after the tag."""
    answers: int = -1
    """For a reply: the forward packet (its ``n``) whose output it answers."""
    trigger: int = -1
    """Index into ``TRIGGERS`` of the bytes it carries after its tag, or -1."""


@dataclass(frozen=True)
class Trace:
    flows: tuple[FlowSpec, ...]
    picks: tuple[int, ...]
    """Flow indices in send order; a pick of a finished flow is skipped, and what is left
    of every flow's script follows the picks, flow by flow."""
    salt: int = 0
    """Varies the flows' ports, hence which buckets they hash to."""
    hosts: int = 0
    """0: every flow from its own inside host (what the NAT's checks assume). n > 0: flow i
    comes from inside host i mod n, so a host opens several flows (the IDS's port-scan
    detection counts them), and flows go to several service ports (some that no IDS rule
    names, whose flows are not inspected)."""

    def steps(self) -> list[Step]:
        scripts = [script(i, spec) for i, spec in enumerate(self.flows)]
        cursor = [0] * len(scripts)
        out: list[Step] = []
        for pick in self.picks:
            if 0 <= pick < len(scripts) and cursor[pick] < len(scripts[pick]):
                out.append(scripts[pick][cursor[pick]])
                cursor[pick] += 1
        for i, steps in enumerate(scripts):
            out.extend(steps[cursor[i]:])
        return out

    def endpoints(self, flow: int) -> FlowKey:
        """The flow's forward 5-tuple: inside host → server."""
        spec = self.flows[flow]
        inside = INSIDE_NET + 1 + (flow % self.hosts if self.hosts else flow)
        server = SERVER_NET + 1 + flow % 7
        sport = 1024 + (self.salt * 7919 + flow * 104729) % 60000
        if self.hosts:
            services = TCP_SERVICES if spec.tcp else UDP_SERVICES
            dport = services[flow % len(services)]
        else:
            dport = 80 if spec.tcp else 53
        return FlowKey(inside, server, sport, dport, IPPROTO_TCP if spec.tcp else IPPROTO_UDP)

    def flow_of(self) -> dict[bytes, int]:
        """Canonical key → the flow it is (no NAT in between)."""
        return {self.endpoints(i).canonical(): i for i in range(len(self.flows))}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "flows": [[int(f.tcp), f.data, f.answers] + ([f.marks] if f.marks else [])
                      for f in self.flows],
            "picks": list(self.picks), "salt": self.salt}
        if self.hosts:
            out["hosts"] = self.hosts
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Trace:
        """Raises ValueError naming what is missing or malformed."""
        try:
            flows = tuple(FlowSpec(bool(f[0]), int(f[1]), int(f[2]),
                                   int(f[3]) if len(f) > 3 else 0) for f in data["flows"])
            return cls(flows, tuple(int(p) for p in data["picks"]), int(data.get("salt", 0)),
                       int(data.get("hosts", 0)))
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ValueError(f"a trace is {{'flows': [[tcp, data, answers(, marks)], ...], "
                             f"'picks': [flow, ...], 'salt': n(, 'hosts': n)}}; got {data!r}: "
                             f"{exc!r}") from None


def script(flow: int, spec: FlowSpec) -> list[Step]:
    """One flow's packets in the order its endpoints send them."""
    steps: list[Step] = []
    fwd = rep = 0

    def trigger() -> int:
        i = len(steps)
        return (flow + i) % len(TRIGGERS) if spec.marks >> i & 1 else -1

    def send(flags: int, size: int, answered: bool) -> None:
        nonlocal fwd, rep
        steps.append(Step(flow, FORWARD, fwd, flags, size, trigger=trigger()))
        if answered:
            reply_flags = flags | TCP_ACK if flags & (TCP_SYN | TCP_FIN) else flags & TCP_ACK
            steps.append(Step(flow, REPLY, rep, reply_flags, 16 + 8 * (rep % 3), fwd,
                              trigger()))
            rep += 1
        fwd += 1

    def answered(i: int) -> bool:
        return bool(spec.answers >> i & 1)

    if spec.tcp:
        send(TCP_SYN, 0, True)
        send(TCP_ACK, 0, False)
        for i in range(spec.data):
            send(TCP_ACK, 32 + 16 * (i % 4), answered(2 + i))
        send(TCP_FIN | TCP_ACK, 0, True)
        send(TCP_ACK, 0, False)
    else:
        for i in range(max(1, spec.data)):
            send(0, 24 + 8 * (i % 5), answered(i))
    return steps


def random_trace(rng: random.Random, flows: int, max_data: int = 5, hosts: int = 0,
                 marks: bool = False) -> Trace:
    """``flows`` random flows whose packets are interleaved at random (``marks``: some carry
    ``TRIGGERS``)."""
    specs = tuple(FlowSpec(rng.random() < 0.6, rng.randint(0, max_data),
                           rng.getrandbits(max_data + 2),
                           rng.getrandbits(16) & rng.getrandbits(16) if marks else 0)
                  for _ in range(flows))
    picks = [i for i, spec in enumerate(specs) for _ in script(i, spec)]
    rng.shuffle(picks)
    return Trace(specs, tuple(picks), rng.randrange(1 << 16), hosts)


def tag(step: Step) -> bytes:
    return TAG.pack(MAGIC, step.flow, step.direction, step.n)


def read_tag(frame: bytes) -> tuple[int, int, int] | None:
    """(flow, direction, n) of a frame built by this module, or None."""
    at = parse(frame).payload
    if len(frame) < at + TAG.size:
        return None
    magic, flow, direction, n = TAG.unpack_from(frame, at)
    return (flow, direction, n) if magic == MAGIC else None


@cache
def _template(key: FlowKey) -> FrameTemplate:
    return FrameTemplate(key, "02:53:45:51:00:02", _IN_MAC)


def _frame(key: FlowKey, step: Step) -> bytes:
    seq = 1000 * (step.direction + 1) + 100 * step.n
    ack = 1000 * (2 - step.direction) + 100 * step.n if step.flags & TCP_ACK else 0
    payload = tag(step) + (TRIGGERS[step.trigger] if step.trigger >= 0 else b"")
    return _template(key).frame(payload, step.size, step.n + (step.direction << 12), seq,
                                ack, step.flags)


def forward_frame(trace: Trace, step: Step) -> tuple[bytes, bytes]:
    """(frame, canonical key) of a forward step."""
    key = trace.endpoints(step.flow)
    return _frame(key, step), key.canonical()


def reply_frame(step: Step, answered: bytes) -> tuple[bytes, bytes]:
    """(frame, canonical key) of a reply to the forward packet that left as ``answered``:
    from its destination to its (translated) source."""
    h = parse(answered)
    key = FlowKey(h.dst, h.src, h.dport, h.sport, h.proto)
    return _frame(key, step), key.canonical()
