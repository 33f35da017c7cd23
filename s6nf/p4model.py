"""The steering pipeline of ``p4/steer.p4`` as a function of a frame's bytes.

No P4 compiler or bmv2 runs on the development machines, so this model is the executable
reference for the P4 program's parser and admission (docs/steering.md): the eBPF target's
datapath tests run the shared cases of ``tests/vectors/steering_cases.py`` through both.
The tables themselves are modelled by ``MemoryBackend.steer``.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from s6nf.keys import IPPROTO_TCP, IPPROTO_UDP, FlowKey

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_VLAN = 0x8100
ETHERTYPE_QINQ = 0x88A8
MAX_VLAN_TAGS = 2
ETH_LEN, VLAN_LEN, IPV4_MIN_LEN, TCP_LEN, UDP_LEN = 14, 4, 20, 20, 8


class DropReason(enum.IntEnum):
    """The drop rule's reasons; values and names as ``p4/include/defines.p4`` ``DROP_*``."""

    NONE = 0
    NOT_IPV4 = 1
    IPV4_FRAGMENT = 2
    IPV4_BAD_IHL = 3
    NOT_TCP_UDP = 4
    PARSER_ERROR = 5


@dataclass(frozen=True, slots=True)
class Admission:
    """What the pipeline makes of a frame before its tables."""

    reason: DropReason
    """``NONE`` if the frame is steered."""
    flow: FlowKey | None
    """The directed 5-tuple of a steered frame."""


class _Truncated(Exception):
    pass


def _take(frame: bytes, offset: int, length: int) -> bytes:
    if offset + length > len(frame):
        raise _Truncated
    return frame[offset:offset + length]


def admit(frame: bytes) -> Admission:
    """Parse ``frame`` as ``SteerParser`` does and apply ``Admission``'s rule, in its order."""
    try:
        return _admit(frame)
    except _Truncated:
        return Admission(DropReason.PARSER_ERROR, None)


def _admit(frame: bytes) -> Admission:
    (ether_type,) = struct.unpack("!H", _take(frame, 12, 2))
    offset, tags = ETH_LEN, 0
    while ether_type in (ETHERTYPE_VLAN, ETHERTYPE_QINQ):
        if tags == MAX_VLAN_TAGS:
            return Admission(DropReason.PARSER_ERROR, None)
        (ether_type,) = struct.unpack("!H", _take(frame, offset + 2, 2))
        offset, tags = offset + VLAN_LEN, tags + 1
    if ether_type != ETHERTYPE_IPV4:
        return Admission(DropReason.NOT_IPV4, None)
    ip = _take(frame, offset, IPV4_MIN_LEN)
    ihl = ip[0] & 0x0F
    if ihl < IPV4_MIN_LEN // 4:
        return Admission(DropReason.IPV4_BAD_IHL, None)
    _take(frame, offset, ihl * 4)
    flags_fragment, proto = struct.unpack("!H", ip[6:8])[0], ip[9]
    more_fragments, fragment_offset = flags_fragment & 0x2000, flags_fragment & 0x1FFF
    if more_fragments or fragment_offset:
        return Admission(DropReason.IPV4_FRAGMENT, None)
    if proto not in (IPPROTO_TCP, IPPROTO_UDP):
        return Admission(DropReason.NOT_TCP_UDP, None)
    l4 = _take(frame, offset + ihl * 4, TCP_LEN if proto == IPPROTO_TCP else UDP_LEN)
    sport, dport = struct.unpack("!HH", l4[:4])
    src, dst = struct.unpack("!II", ip[12:20])
    return Admission(DropReason.NONE, FlowKey(src, dst, sport, dport, proto))
