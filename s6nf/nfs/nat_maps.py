"""The NAT program's maps: per-flow entries (``nat_flows``) and per-direction egress."""

from __future__ import annotations

from s6nf.agent.structs import NatEntry, NatEntryRecord
from s6nf.nfs.nf_tables import NfTables


class NatTables(NfTables[NatEntryRecord]):
    NF = "NAT"
    FLOWS = "nat_flows"
    VALUE = NatEntry
    RECORD = NatEntryRecord
