"""Fast frames for the workload generator: one scapy template per flow direction, patched.

Building a packet with scapy costs hundreds of microseconds; a workload has 100k+ packets and
thousands of flows. scapy builds one frame per protocol and MAC pair (Ethernet, IPv4 without
options, TCP without options or UDP); each flow direction patches in its addresses and ports,
and each packet then patches the few fields that change — IPv4 total
length and id, TCP seq/ack/flags or UDP length, the payload (measurement header + zero
padding) — and recomputes the IPv4 and L4 checksums. Frames go to a pcap written directly.
"""

from __future__ import annotations

import struct
from array import array
from functools import cache
from typing import BinaryIO

from scapy.compat import raw
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

from s6nf.keys import IPPROTO_TCP, IPPROTO_UDP, FlowKey

ETH_LEN = 14
IP_LEN = 20
TCP_LEN = 20
UDP_LEN = 8
L4 = ETH_LEN + IP_LEN
SRC_MAC = "02:53:36:00:fe:00"

_PCAP_HEADER = struct.Struct("<IHHiIII")
_PCAP_RECORD = struct.Struct("<IIII")
PCAP_MAGIC_US = 0xA1B2C3D4
LINKTYPE_ETHERNET = 1


def _ones_sum(data: bytes | bytearray) -> int:
    """The 16-bit one's complement sum of ``data`` in host order (RFC 1071 §2(B))."""
    if len(data) % 2:
        data = bytes(data) + b"\0"
    total = sum(array("H", bytes(data)))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _checksum_bytes(total: int) -> bytes:
    """The checksum field for a host-order one's complement sum."""
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return struct.pack("=H", ~total & 0xFFFF)


class FrameTemplate:
    """One direction of one flow: the scapy-built headers and what each packet patches."""

    def __init__(self, key: FlowKey, dst_mac: str, src_mac: str = SRC_MAC) -> None:
        if key.proto not in (IPPROTO_TCP, IPPROTO_UDP):
            raise ValueError(f"frames are TCP or UDP, got IP protocol {key.proto}")
        self.tcp = key.proto == IPPROTO_TCP
        self.headers = bytearray(_base(key.proto, src_mac, dst_mac))
        self.l4_len = TCP_LEN if self.tcp else UDP_LEN
        struct.pack_into("!II", self.headers, ETH_LEN + 12, key.src, key.dst)
        struct.pack_into("!HH", self.headers, L4, key.sport, key.dport)
        self._pseudo = bytes(self.headers[ETH_LEN + 12:ETH_LEN + 20]) + bytes([0, key.proto])
        self.headers[ETH_LEN + 10:ETH_LEN + 12] = b"\0\0"
        self.headers[L4 + (16 if self.tcp else 6):L4 + (18 if self.tcp else 8)] = b"\0\0"

    def frame(self, payload: bytes, pad: int, ip_id: int, seq: int = 0, ack: int = 0,
              flags: int = 0) -> bytes:
        """A frame carrying ``payload`` then ``pad`` zero bytes, with valid checksums."""
        h = bytearray(self.headers)
        l4_total = self.l4_len + len(payload) + pad
        struct.pack_into("!HH", h, ETH_LEN + 2, IP_LEN + l4_total, ip_id & 0xFFFF)
        h[ETH_LEN + 10:ETH_LEN + 12] = _checksum_bytes(_ones_sum(h[ETH_LEN:L4]))
        if self.tcp:
            struct.pack_into("!II", h, L4 + 4, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF)
            h[L4 + 13] = flags
            csum_at = L4 + 16
        else:
            struct.pack_into("!H", h, L4 + 4, l4_total)
            csum_at = L4 + 6
        pseudo = self._pseudo + struct.pack("!H", l4_total)
        total = _ones_sum(pseudo) + _ones_sum(h[L4:]) + _ones_sum(payload)
        csum = _checksum_bytes(total)
        if not self.tcp and csum == b"\0\0":
            csum = b"\xff\xff"
        h[csum_at:csum_at + 2] = csum
        return bytes(h) + payload + bytes(pad)


class PcapFile:
    """A classic (microsecond) pcap of Ethernet frames, written without scapy."""

    def __init__(self, out: BinaryIO, snaplen: int = 65535) -> None:
        self._out = out
        out.write(_PCAP_HEADER.pack(PCAP_MAGIC_US, 2, 4, 0, 0, snaplen, LINKTYPE_ETHERNET))

    def write(self, time_us: int, frame: bytes) -> None:
        self._out.write(_PCAP_RECORD.pack(time_us // 1_000_000, time_us % 1_000_000,
                                          len(frame), len(frame)))
        self._out.write(frame)


@cache
def _base(proto: int, src_mac: str, dst_mac: str) -> bytes:
    """The scapy-built frame every flow of ``proto`` between these MACs starts from."""
    l4 = (TCP(sport=0, dport=0, flags="", seq=0, window=65535) if proto == IPPROTO_TCP
          else UDP(sport=0, dport=0))
    frame = raw(Ether(src=src_mac, dst=dst_mac) / IP(src="0.0.0.0", dst="0.0.0.0", id=0) / l4)
    expected = L4 + (TCP_LEN if proto == IPPROTO_TCP else UDP_LEN)
    if len(frame) != expected:
        raise AssertionError(f"scapy built a {len(frame)}-byte template, expected {expected}")
    return frame
