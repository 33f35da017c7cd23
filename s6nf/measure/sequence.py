"""Loss and reordering per flow, from the sink's sequence state (and what was sent).

The sink keeps, per canonical flow, the packets that carried the measurement header
(``measured``), one past the highest sequence number seen (``next_seq``) and the packets whose
sequence number was below the highest seen (``reordered``). Without the sender's counts, loss is
``next_seq - measured``: exact except for losses after the last packet that arrived, which no
receiver can see. Given the workload's per-flow counts, loss is ``sent - measured``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from s6nf.agent.structs import SinkFlow
from s6nf.keys import FlowKey


@dataclass(frozen=True)
class FlowSequence:
    expected: int
    """Packets the flow should have delivered: sent if known, else the highest seq + 1."""
    received: int
    """Packets with the measurement header that reached the sink (duplicates included)."""
    reordered: int

    @property
    def lost(self) -> int:
        """Negative when duplicates arrived."""
        return self.expected - self.received


@dataclass(frozen=True)
class SequenceReport:
    flows: dict[bytes, FlowSequence]
    """Canonical key bytes → the flow's sequence figures."""

    @property
    def expected(self) -> int:
        return sum(f.expected for f in self.flows.values())

    @property
    def received(self) -> int:
        return sum(f.received for f in self.flows.values())

    @property
    def lost(self) -> int:
        return sum(f.lost for f in self.flows.values())

    @property
    def reordered(self) -> int:
        return sum(f.reordered for f in self.flows.values())

    @property
    def flows_with_loss(self) -> int:
        return sum(1 for f in self.flows.values() if f.lost > 0)

    @property
    def flows_reordered(self) -> int:
        return sum(1 for f in self.flows.values() if f.reordered)


def sequence_report(records: Mapping[FlowKey, SinkFlow],
                    sent: Mapping[FlowKey, int] | None = None) -> SequenceReport:
    """Per-flow loss and reordering; ``sent`` (e.g. ``Workload.flows``) in either direction.

    Flows the sink has a record of but that carried no measurement header are left out.
    """
    flows: dict[bytes, FlowSequence] = {}
    got = {k.canonical(): v for k, v in records.items() if v.measured}
    wanted = None if sent is None else {k.canonical(): n for k, n in sent.items()}
    for key in set(got) | set(wanted or ()):
        record = got.get(key)
        received = record.measured if record else 0
        reordered = record.reordered if record else 0
        inferred = record.next_seq if record else 0
        expected = inferred if wanted is None else wanted.get(key, 0)
        flows[key] = FlowSequence(expected, received, reordered)
    return SequenceReport(flows)
