"""The IDS program's maps: per-flow entries (``ids_flows``) and per-direction egress."""

from __future__ import annotations

from s6nf.agent.structs import IdsFlow, IdsFlowRecord
from s6nf.nfs.nf_tables import NfTables


class IdsTables(NfTables[IdsFlowRecord]):
    NF = "IDS"
    FLOWS = "ids_flows"
    VALUE = IdsFlow
    RECORD = IdsFlowRecord
