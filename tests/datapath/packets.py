"""Packet builders shared by the datapath tests."""

from scapy.compat import raw
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether

SRC_MAC = "02:00:00:00:00:aa"


def tcp(src="10.1.0.1", dst="10.2.0.1", sport=40000, dport=80, flags="S", payload=b"", **ip):
    return raw(Ether(src=SRC_MAC) / IP(src=src, dst=dst, **ip) / TCP(sport=sport, dport=dport,
                                                                     flags=flags) / payload)


def udp(src="10.1.0.1", dst="10.2.0.1", sport=5353, dport=53, payload=b"x", **ip):
    return raw(Ether(src=SRC_MAC) / IP(src=src, dst=dst, **ip) / UDP(sport=sport, dport=dport)
               / payload)


def vlan(inner: bytes, tags: int) -> bytes:
    frame = Ether(inner)
    payload = frame.payload
    layers = Ether(src=frame.src, dst=frame.dst)
    for i in range(tags):
        layers = layers / (Dot1AD(vlan=100 + i) if i == 0 and tags > 1 else Dot1Q(vlan=200 + i))
    return raw(layers / payload)
