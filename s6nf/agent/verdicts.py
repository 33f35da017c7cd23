"""The reason enum of every s6nf program, mirroring ``ebpf/include/verdicts.h``.

Every packet is counted under exactly one verdict reason (below ``NOTE_FIRST``); NOTE_*
entries count properties of packets and are not part of the per-packet total.
"""

from __future__ import annotations

from enum import IntEnum


class Reason(IntEnum):
    FORWARD = 0
    CONSUMED = 1
    DROP_NOT_IPV4 = 2
    DROP_TRUNC_ETH = 3
    DROP_TRUNC_IP = 4
    DROP_BAD_IP = 5
    DROP_FRAGMENT = 6
    DROP_TRUNC_L4 = 7
    DROP_UNSUPPORTED_L4 = 8
    DROP_NO_ROUTE = 9
    DROP_VLAN_DEPTH = 10
    DROP_NOT_CONFIGURED = 11
    DROP_BY_ENTRY = 12
    PUNTED = 13
    DROP_PUNT_FULL = 14
    DROP_PEND_FULL = 15
    DROP_PUNT_TOO_BIG = 16
    DROP_BY_NF = 17
    DROP_WRONG_WAY = 18
    NOTE_VLAN = 32
    NOTE_IP_OPTIONS = 33
    NOTE_FLOW_TABLE_FULL = 34
    NOTE_PINNED = 35
    NOTE_MEASURED = 36
    NOTE_REORDERED = 37
    NOTE_UNSTAMPED = 38
    NOTE_CLOCK_SKEW = 39
    NOTE_READY = 40

    @property
    def is_note(self) -> bool:
        return self >= NOTE_FIRST


NOTE_FIRST = 32
REASON_MAX = 48


def verdict_total(counts: dict[Reason, int]) -> int:
    """Packets seen: the sum over verdict reasons, notes excluded."""
    return sum(n for r, n in counts.items() if not r.is_note)
