"""Deterministic test traffic as pcap: a number of TCP/UDP flows of a few packets each.

The heavy-tailed, time-stamped workloads of the benchmarks are a later piece; this one gives
the foundation tests a known set of flows whose every packet can be accounted for.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import PcapWriter

from s6nf.keys import IPPROTO_TCP, FlowKey


@dataclass(frozen=True)
class Trace:
    path: Path
    flows: dict[FlowKey, int]
    """Each directed flow and how many packets of it the pcap holds."""

    @property
    def packets(self) -> int:
        return sum(self.flows.values())


def write_flows(path: Path, flows: int, packets_per_flow: int = 5, seed: int = 1,
                dst_mac: str = "ff:ff:ff:ff:ff:ff", payload: int = 18) -> Trace:
    """``flows`` distinct flows (about half TCP), packets of a flow back to back in order."""
    if flows < 1 or packets_per_flow < 1:
        raise ValueError(f"need at least one flow and one packet each, got {flows}, "
                         f"{packets_per_flow}")
    if flows > 1 << 24:
        raise ValueError(f"at most 2**24 flows, got {flows}")
    rng = random.Random(seed)
    keys: dict[FlowKey, int] = {}
    seen: set[bytes] = set()
    while len(keys) < flows:
        key = FlowKey(0x0A010000 | rng.getrandbits(16), 0x0A020000 | rng.getrandbits(16),
                      rng.randint(1024, 65535), rng.choice([80, 443, 53, 8080, 5001]),
                      rng.choice([6, 17]))
        if key.canonical() not in seen:
            seen.add(key.canonical())
            keys[key] = packets_per_flow
    body = bytes(payload)
    with PcapWriter(str(path), linktype=1, sync=False) as out:
        for key in keys:
            ip = IP(src=_dotted(key.src), dst=_dotted(key.dst))
            for n in range(packets_per_flow):
                l4: TCP | UDP
                if key.proto == IPPROTO_TCP:
                    flags = "S" if n == 0 else ("FA" if n == packets_per_flow - 1 else "A")
                    l4 = TCP(sport=key.sport, dport=key.dport, flags=flags, seq=1000 + n)
                else:
                    l4 = UDP(sport=key.sport, dport=key.dport)
                out.write(Ether(src="02:53:36:00:fe:00", dst=dst_mac) / ip / l4 / body)
    return Trace(path, keys)


def _dotted(addr: int) -> str:
    return ".".join(str(addr >> s & 0xFF) for s in (24, 16, 8, 0))
