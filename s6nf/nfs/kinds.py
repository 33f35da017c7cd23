"""The NFs s6nf ships, as ``NfKind``s: how to load, configure and serve each one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from s6nf.agent.dso import DsoAgent, Schema
from s6nf.agent.dso.ebpf_storage import EbpfStorage
from s6nf.agent.loader import Program
from s6nf.agent.maps import FlowTable
from s6nf.agent.structs import FlowStatsRecord, IdsFlowRecord, NatEntryRecord, NfDirection
from s6nf.nfs.ids import Ids, IdsConfig, ids_schema
from s6nf.nfs.ids_maps import IdsTables
from s6nf.nfs.monitor import AssetMonitor, monitor_schema
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


def flow_table(source: Program | Path) -> FlowTable:
    """The monitor's maps of a loaded program (tests, simulations) or of a pin directory."""
    return FlowTable.of(source) if isinstance(source, Program) else FlowTable.pinned(source)


def _monitor_schema(source: Program | Path) -> Schema:
    table = flow_table(source)
    return monitor_schema(lambda: EbpfStorage(table.flow_map(), FlowStatsRecord,
                                              ready_field="ready"))


def _monitor_sim_configure(program: Program) -> None:
    with FlowTable.of(program) as table:
        for direction, (smac, dmac) in SIM_MACS.items():
            table.configure(1000 + direction, smac, dmac, NfDirection(direction))


def monitor_kind() -> NfKind:
    """The asset monitor. Building its handler is the agent's start: from then on the kernel
    punts new flows to it (``punt_new_flows``) instead of creating their entries itself."""
    def handler(agent: DsoAgent, source: Program | Path) -> tuple[Handler, Any]:
        table = flow_table(source)
        macs = {d: out[1:] for d, out in table.egress().items()}
        table.punt_new_flows(True)
        monitor = AssetMonitor(agent, macs.__getitem__)
        return monitor.handle, monitor

    return NfKind("monitor", ("xdp_monitor", "xdp_monitor_reply"), _monitor_schema, handler,
                  _monitor_sim_configure)


def ids_tables(source: Program | Path) -> IdsTables:
    return IdsTables.of(source) if isinstance(source, Program) else IdsTables.pinned(source)


def _ids_schema(source: Program | Path) -> Schema:
    tables = ids_tables(source)
    return ids_schema(lambda: EbpfStorage(tables.flows(), IdsFlowRecord, ready_field="ready"))


def _ids_sim_configure(program: Program) -> None:
    with IdsTables.of(program) as tables:
        for direction, (smac, dmac) in SIM_MACS.items():
            tables.configure(direction, 1000 + direction, smac, dmac)


def ids_kind(config: IdsConfig) -> NfKind:
    def handler(agent: DsoAgent, source: Program | Path) -> tuple[Handler, Any]:
        tables = ids_tables(source)
        macs = {d: tables.egress(d)[1:] for d in (0, 1)}
        ids = Ids(agent, config, macs.__getitem__)
        return ids.handle, ids

    return NfKind("ids", ("xdp_ids", "xdp_ids_reply"), _ids_schema, handler,
                  _ids_sim_configure)
