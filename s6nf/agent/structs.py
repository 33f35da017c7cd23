"""ctypes mirrors of ``ebpf/include/structs.h``, field for field (tests round-trip each one).

Packet fields (addresses, ports) are kept in network order as in the kernel; ``FlowKeyC``
converts to and from ``s6nf.keys.FlowKey``.
"""

from __future__ import annotations

import ctypes as ct
import socket
from enum import IntEnum

from s6nf.agent.records import U8, U16, U32, U64, Mac, Record
from s6nf.keys import CANONICAL_KEY_LEN, FlowKey, unpack_canonical


class FlowKeyC(ct.Structure):
    _fields_ = [
        ("addr_lo", ct.c_uint32),
        ("addr_hi", ct.c_uint32),
        ("port_lo", ct.c_uint16),
        ("port_hi", ct.c_uint16),
        ("proto", ct.c_uint8),
        ("pad", ct.c_uint8 * 3),
    ]

    @classmethod
    def from_flow(cls, key: FlowKey) -> FlowKeyC:
        return cls.from_buffer_copy(key.canonical() + bytes(3))

    def canonical(self) -> bytes:
        return bytes(self)[:CANONICAL_KEY_LEN]

    def to_flow(self) -> FlowKey:
        return unpack_canonical(self.canonical())


class FwdAction(IntEnum):
    """``enum fwd_action``: what a steering entry does."""

    NONE = 0
    FORWARD = 1
    DROP = 2


class FwdTarget(ct.Structure):
    _fields_ = [("port", ct.c_uint32), ("dmac", ct.c_uint8 * 6), ("action", ct.c_uint16)]

    @classmethod
    def of(cls, port: int, dmac: bytes) -> FwdTarget:
        """A forward entry."""
        if len(dmac) != 6:
            raise ValueError(f"a MAC address is 6 bytes, got {dmac.hex(':')}")
        return cls(port, (ct.c_uint8 * 6)(*dmac), FwdAction.FORWARD)

    @classmethod
    def drop(cls) -> FwdTarget:
        return cls(0, (ct.c_uint8 * 6)(), FwdAction.DROP)


class SteerConfig(ct.Structure):
    _fields_ = [("pins", ct.c_uint32), ("active", ct.c_uint32)]


class PortEntry(ct.Structure):
    _fields_ = [("ifindex", ct.c_uint32)]


class Counter(ct.Structure):
    _fields_ = [("packets", ct.c_uint64), ("bytes", ct.c_uint64)]


class FlowStatsRecord(Record, c_name="flow_stats"):
    """The monitor's per-flow state; tcp_flags is the OR of every flag seen. ``ready`` is
    written by the kernel only; the TTLs and windows of the first SYN and SYN-ACK by the
    agent (the asset monitor's OS hints)."""

    packets: U64 = 0
    bytes: U64 = 0
    first_seen_ns: U64 = 0
    last_seen_ns: U64 = 0
    tcp_flags: U64 = 0
    ready: U8 = 0
    synack_seen: U8 = 0
    client_ttl: U8 = 0
    server_ttl: U8 = 0
    client_window: U16 = 0
    server_window: U16 = 0


class FlowStats(ct.Structure):
    _fields_ = FlowStatsRecord.ctypes_fields()


class SinkFlowRecord(Record, c_name="sink_flow"):
    """The sink's per-flow record: receive counters and measurement sequence state."""

    packets: U64 = 0
    bytes: U64 = 0
    next_seq: U64 = 0
    measured: U64 = 0
    reordered: U64 = 0


class SinkFlow(ct.Structure):
    _fields_ = SinkFlowRecord.ctypes_fields()


class MeasConfig(ct.Structure):
    _fields_ = [
        ("start_ns", ct.c_uint64),
        ("slot_ns", ct.c_uint64),
        ("clock_ns", ct.c_uint64),
        ("phase", ct.c_uint32),
        ("reflect", ct.c_uint32),
    ]


class SlotHist(ct.Structure):
    """One CPU's latency histogram of one time slot (``s6nf.measure.histogram`` buckets)."""

    _fields_ = [("slot", ct.c_uint64), ("counts", ct.c_uint64 * 1024)]


class SlotCount(ct.Structure):
    _fields_ = [("slot", ct.c_uint64), ("packets", ct.c_uint64), ("bytes", ct.c_uint64)]


class NfAction(IntEnum):
    """``enum nf_action``: how an NF entry ends its packets on the fast path."""

    PASS = 0
    DROP = 1


class NatEntryRecord(Record, c_name="nat_entry"):
    """The NAT's per-flow entry (see ``struct nat_entry``); addresses and ports in network
    order. ``ready`` is written by the kernel only, once the flow's punted packets have left."""

    orig_saddr: U32 = 0
    new_saddr: U32 = 0
    new_daddr: U32 = 0
    orig_sport: U16 = 0
    new_sport: U16 = 0
    new_dport: U16 = 0
    action: U8 = 0
    ready: U8 = 0
    closing: U8 = 0
    reverse: U8 = 0
    pad: U16 = 0
    packets: U64 = 0
    bytes: U64 = 0
    last_seen_ns: U64 = 0


class NatEntry(ct.Structure):
    _fields_ = NatEntryRecord.ctypes_fields()


class IdsFlowRecord(Record, c_name="ids_flow"):
    """The IDS's per-flow entry (see ``struct ids_flow``): ``ready`` written by the kernel
    only, ``inspect`` by the agent, ``tcp_state`` (``s6nf.nfs.tcpstate``) by the side that
    handles a packet."""

    packets: U64 = 0
    bytes: U64 = 0
    last_seen_ns: U64 = 0
    ready: U8 = 0
    tcp_state: U8 = 0
    inspect: U8 = 0
    pad: U8 = 0
    pad2: U32 = 0


class IdsFlow(ct.Structure):
    _fields_ = IdsFlowRecord.ctypes_fields()


class PuntPendRecord(Record, c_name="punt_pend"):
    """Kernel-owned: packets of a flow punted in its current episode."""

    punted: U64 = 0


class PuntPend(ct.Structure):
    _fields_ = PuntPendRecord.ctypes_fields()


class NfDirection(IntEnum):
    """The ``nf_config`` entry an NF program reads (``NF_DIR_*`` in ``maps_flows.h``)."""

    FORWARD = 0
    """Packets from the steering host, sent on out of ``out`` towards the sink."""
    REPLY = 1
    """Replies from the sink, sent back out of ``in`` towards the steering host."""


class NfConfigRecord(Record, c_name="nf_config"):
    """An NF instance's forwarding: out of out_ifindex with these MACs."""

    out_ifindex: U32 = 0
    smac: Mac = bytes(6)
    dmac: Mac = bytes(6)
    pad: U16 = 0


class NfConfig(ct.Structure):
    _fields_ = NfConfigRecord.ctypes_fields()

    @classmethod
    def of(cls, out_ifindex: int, smac: bytes, dmac: bytes) -> NfConfig:
        return cls(out_ifindex, (ct.c_uint8 * 6)(*smac), (ct.c_uint8 * 6)(*dmac), 0)


def mac_bytes(mac: str) -> bytes:
    """'02:00:00:00:00:01' → 6 bytes, refusing anything else."""
    parts = mac.split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise ValueError(f"not a MAC address: {mac!r}")
    return bytes(int(p, 16) for p in parts)


def ipv4_be(addr: str) -> int:
    """Dotted quad → the u32 a little-endian host reads from network-order bytes."""
    return int.from_bytes(socket.inet_aton(addr), "little")
