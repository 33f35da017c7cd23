"""Frames and what the steering pipeline must make of them, shared by every target's tests.

Each case is (description, frame, expected drop reason, expected flow or None). The P4 model
(``s6nf.p4model``) is held to them in tests/unit/test_p4model.py; the eBPF steering program
should run the same frames through BPF_PROG_TEST_RUN and count each under the same reason.
"""

from __future__ import annotations

from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_NOP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Dot1AD, Dot1Q, Ether

from s6nf.keys import FlowKey
from s6nf.p4model import DropReason

ETH = Ether(src="02:00:00:00:00:aa", dst="02:00:00:00:00:bb")
A, B = "10.0.0.1", "192.168.7.9"
TCP_FLOW = FlowKey.of(A, B, 40000, 80, 6)
UDP_FLOW = FlowKey.of(B, A, 53, 5353, 17)

Case = tuple[str, bytes, DropReason, FlowKey | None]


def _tcp() -> bytes:
    return bytes(ETH / IP(src=A, dst=B) / TCP(sport=40000, dport=80) / b"payload")


CASES: list[Case] = [
    ("tcp", _tcp(), DropReason.NONE, TCP_FLOW),
    ("udp", bytes(ETH / IP(src=B, dst=A) / UDP(sport=53, dport=5353)), DropReason.NONE,
     UDP_FLOW),
    ("tcp, reply direction", bytes(ETH / IP(src=B, dst=A) / TCP(sport=80, dport=40000)),
     DropReason.NONE, TCP_FLOW.reversed()),
    ("one 802.1Q tag",
     bytes(ETH / Dot1Q(vlan=10) / IP(src=A, dst=B) / TCP(sport=40000, dport=80)),
     DropReason.NONE, TCP_FLOW),
    ("802.1ad then 802.1Q",
     bytes(Ether(src=ETH.src, dst=ETH.dst, type=0x88A8) / Dot1AD(vlan=100) / Dot1Q(vlan=10)
           / IP(src=A, dst=B) / TCP(sport=40000, dport=80)),
     DropReason.NONE, TCP_FLOW),
    ("IPv4 options (IHL 6)", bytes(ETH / IP(src=A, dst=B, options=[IPOption_NOP()] * 4)
                                   / TCP(sport=40000, dport=80)),
     DropReason.NONE, TCP_FLOW),
    ("three VLAN tags", bytes(ETH / Dot1Q(vlan=1) / Dot1Q(vlan=2) / Dot1Q(vlan=3)
                              / IP(src=A, dst=B) / TCP()),
     DropReason.PARSER_ERROR, None),
    ("ARP", bytes(ETH / ARP(psrc=A, pdst=B)), DropReason.NOT_IPV4, None),
    ("IPv6", bytes(ETH / IPv6() / UDP()), DropReason.NOT_IPV4, None),
    ("VLAN-tagged ARP", bytes(ETH / Dot1Q(vlan=5) / ARP(psrc=A, pdst=B)),
     DropReason.NOT_IPV4, None),
    ("first fragment (MF)", bytes(ETH / IP(src=A, dst=B, flags="MF") / TCP()),
     DropReason.IPV4_FRAGMENT, None),
    ("later fragment (offset)", bytes(ETH / IP(src=A, dst=B, frag=185, proto=6) / (b"x" * 8)),
     DropReason.IPV4_FRAGMENT, None),
    ("IHL 4", bytes(ETH / IP(src=A, dst=B, ihl=4) / TCP()), DropReason.IPV4_BAD_IHL, None),
    ("ICMP", bytes(ETH / IP(src=A, dst=B) / ICMP()), DropReason.NOT_TCP_UDP, None),
    ("runt Ethernet", bytes(ETH)[:13], DropReason.PARSER_ERROR, None),
    ("truncated IPv4 header", bytes(ETH / IP(src=A, dst=B))[:14 + 19],
     DropReason.PARSER_ERROR, None),
    ("truncated IPv4 options", bytes(ETH / IP(src=A, dst=B, options=[IPOption_NOP()] * 8))[:40],
     DropReason.PARSER_ERROR, None),
    ("truncated TCP header", _tcp()[:14 + 20 + 19], DropReason.PARSER_ERROR, None),
    ("truncated UDP header", bytes(ETH / IP(src=A, dst=B) / UDP())[:14 + 20 + 7],
     DropReason.PARSER_ERROR, None),
]
