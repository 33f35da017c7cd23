"""The NFs s6nf ships, as ``NfKind``s: how to load, configure and serve each one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from s6nf.agent.dso import DsoAgent, Schema
from s6nf.agent.dso.ebpf_storage import EbpfStorage
from s6nf.agent.loader import Program
from s6nf.agent.structs import NatEntryRecord
from s6nf.nfs.nat import Nat, NatConfig, nat_schema
from s6nf.nfs.nat_maps import NatTables
from s6nf.nfs.sim import NfKind
from s6nf.nfs.slowpath import Handler

SIM_MACS = {0: (bytes.fromhex("02530000aa00"), bytes.fromhex("02530000bb00")),
            1: (bytes.fromhex("02530000aa01"), bytes.fromhex("02530000bb01"))}
"""Egress MACs of the two directions when no interfaces exist (simulated instances)."""


MapSource = Program | Path
"""A loaded program (tests, simulations) or an instance's pin directory (agents)."""


def nat_tables(source: MapSource) -> NatTables:
    return NatTables.of(source) if isinstance(source, Program) else NatTables.pinned(source)


def _nat_schema(source: MapSource) -> Schema:
    tables = nat_tables(source)
    return nat_schema(lambda: EbpfStorage(tables.flows(), NatEntryRecord, ready_field="ready",
                                          own_keys=True))


def _sim_configure(program: Program) -> None:
    with NatTables.of(program) as tables:
        for direction, (smac, dmac) in SIM_MACS.items():
            tables.configure(direction, 1000 + direction, smac, dmac)


def nat_kind(config: NatConfig) -> NfKind:
    def handler(agent: DsoAgent, source: MapSource) -> tuple[Handler, Any]:
        tables = nat_tables(source)
        macs = {d: tables.egress(d)[1:] for d in (0, 1)}
        nat = Nat(agent, config, macs.__getitem__)
        return nat.handle, nat

    return NfKind("nat", ("xdp_nat", "xdp_nat_reply"), _nat_schema, handler, _sim_configure)
