"""The IDS's per-flow TCP state, mirroring ``enum tcp_state`` and ``next_state`` of
``ebpf/ids.c``: the kernel advances it on the fast path, the agent on punted packets, so the
two must agree (a datapath test runs both over the same flag sequences).

Deliberately coarse: one FIN makes a flow CLOSING, a second FIN (either side) or a RST makes
it CLOSED; a flow picked up mid-stream (first packet a plain ACK) counts as ESTABLISHED.
"""

from __future__ import annotations

from enum import IntEnum

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10


class TcpState(IntEnum):
    NONE = 0
    SYN_SENT = 1
    SYN_RECEIVED = 2
    ESTABLISHED = 3
    CLOSING = 4
    CLOSED = 5


def next_state(state: int, flags: int) -> TcpState:
    if flags & RST:
        return TcpState.CLOSED
    if flags & FIN:
        return TcpState.CLOSED if state >= TcpState.CLOSING else TcpState.CLOSING
    if state >= TcpState.CLOSING:
        return TcpState(state)
    if flags & SYN:
        if flags & ACK:
            return TcpState.SYN_RECEIVED
        return TcpState.SYN_SENT if state == TcpState.NONE else TcpState(state)
    if flags & ACK and state in (TcpState.SYN_RECEIVED, TcpState.NONE):
        return TcpState.ESTABLISHED
    return TcpState(state)
