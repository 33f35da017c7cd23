"""A loaded monitor program whose ``flows`` map is a DSO storage, and packets to fill it."""

from __future__ import annotations

import ctypes as ct
from collections.abc import Iterator
from contextlib import contextmanager

from s6nf.agent.dso.ebpf_storage import EbpfStorage
from s6nf.agent.loader import Program, load
from s6nf.agent.structs import FlowKeyC, FlowStats, FlowStatsRecord, NfConfig
from s6nf.agent.test_run import XDP_REDIRECT, run_xdp
from s6nf.keys import FlowKey
from tests.datapath import packets as pk

SMAC, DMAC = bytes.fromhex("020000000101"), bytes.fromhex("020000000202")


@contextmanager
def monitor_storage(max_flows: int) -> Iterator[tuple[Program, EbpfStorage[FlowStatsRecord]]]:
    """A configured monitor with ``max_flows`` entries and an EbpfStorage on its flows."""
    prog = load("monitor", defines={"MAX_FLOWS": max_flows})
    try:
        with prog.map("nf_config", ct.c_uint32, NfConfig) as cfg:
            cfg.update(ct.c_uint32(0), NfConfig.of(42, SMAC, DMAC))
        with prog.map("flows", FlowKeyC, FlowStats) as flows:
            yield prog, EbpfStorage(flows, FlowStatsRecord)
    finally:
        prog.close()


def udp_key(i: int) -> bytes:
    """Flow ``i``'s canonical key (cheap: no packet built)."""
    return FlowKey.of(f"10.1.{i // 60000}.1", "10.2.0.1", 1024 + i % 60000, 53, 17).canonical()


def udp_flow(i: int, payload: bytes = b"x") -> tuple[bytes, bytes]:
    """Flow ``i``'s packet and canonical key."""
    sport = 1024 + i % 60000
    src = f"10.1.{i // 60000}.1"
    packet = pk.udp(src=src, sport=sport, dport=53, payload=payload)
    return packet, udp_key(i)


def send(prog: Program, packet: bytes, times: int = 1) -> None:
    """Run ``packet`` through ``prog`` ``times`` times, one test run each (a test run with
    ``repeat`` > 1 takes milliseconds here)."""
    for _ in range(times):
        result = run_xdp(prog.fd, packet)
        assert result.action == XDP_REDIRECT, result
