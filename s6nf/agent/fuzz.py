"""Hostile input for the fast path: seeded random frames, truncations and bit flips of valid
ones, run through a loaded program with BPF_PROG_TEST_RUN between the packets of an
established flow. Used by tests/datapath/test_fuzz.py and bench/fuzz_datapath.py."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from scapy.compat import raw
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Dot1Q, Ether

from s6nf.agent.loader import Program
from s6nf.agent.test_run import ETH_HLEN, XDP_REDIRECT, run_xdp
from s6nf.agent.verdicts import Reason

MAX_FRAME = 1514


def _seeds() -> list[bytes]:
    eth = Ether(dst="02:00:00:00:00:01", src="02:00:00:00:00:02")
    return [raw(eth / IP(src="10.1.0.1", dst="10.2.0.1") / TCP(sport=1, dport=2) / (b"x" * 20)),
            raw(eth / IP(src="10.1.0.1", dst="10.2.0.1") / UDP(sport=3, dport=4) / (b"y" * 8)),
            raw(eth / Dot1Q(vlan=5) / IP(src="10.1.0.2", dst="10.2.0.2", options=[b"\x01" * 4])
                / TCP(sport=5, dport=6)),
            raw(eth / IP(src="10.1.0.3", dst="10.2.0.3", flags="MF") / UDP())]


def frames(seed: int, count: int) -> Iterator[bytes]:
    """``count`` hostile frames, at least an Ethernet header long (test runs need one)."""
    rng = random.Random(seed)
    seeds = _seeds()
    for _ in range(count):
        kind = rng.randrange(3)
        if kind == 0:
            yield rng.randbytes(rng.randint(ETH_HLEN, 128))
            continue
        frame = bytearray(rng.choice(seeds))
        if kind == 1:
            del frame[rng.randint(ETH_HLEN, len(frame)):]
        else:
            for _ in range(rng.randint(1, 8)):
                frame[rng.randrange(len(frame))] ^= 1 << rng.randrange(8)
        yield bytes(frame)


@dataclass
class Campaign:
    frames: int = 0
    established_sent: int = 0
    established_forwarded: int = 0
    actions: dict[int, int] = field(default_factory=dict)


def run_campaign(prog: Program, seed: int, count: int, established: bytes,
                 every: int = 10) -> Campaign:
    """Fuzz ``prog``; every ``every`` frames one packet of the established flow goes through
    and must be forwarded."""
    result = Campaign()
    for i, frame in enumerate(frames(seed, count)):
        action = run_xdp(prog.fd, frame).action
        result.frames += 1
        result.actions[action] = result.actions.get(action, 0) + 1
        if i % every == 0:
            result.established_sent += 1
            if run_xdp(prog.fd, established).action == XDP_REDIRECT:
                result.established_forwarded += 1
    return result


def verdicts(counts: dict[Reason, int]) -> int:
    return sum(n for r, n in counts.items() if not r.is_note)
