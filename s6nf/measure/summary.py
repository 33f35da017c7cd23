"""One JSON-ready summary of what the sink measured: latency per phase, loss, reordering,
throughput per slot. Read it after the run (or between slots, dropping the newest)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from s6nf.agent.maps import SinkCounters
from s6nf.agent.verdicts import Reason
from s6nf.keys import FlowKey
from s6nf.measure.sequence import sequence_report

PERCENTILES = (50, 90, 99, 99.9)


def summarize(sink: SinkCounters, sent: Mapping[FlowKey, int] | None = None) -> dict[str, Any]:
    """Latencies in ns (nearest rank, bucket's highest value), counts in packets.

    ``sent`` (e.g. ``Workload.flows``) makes loss exact, tail losses included.
    """
    phases = sink.histograms()
    overall = sink.histogram()
    seq = sequence_report(sink.records(), sent)
    reasons = sink.reason_counts()
    return {
        "latency_ns": overall.summary(PERCENTILES),
        "latency_ns_by_phase": {str(i): h.summary(PERCENTILES)
                                for i, h in enumerate(phases) if h.total},
        "flows": len(seq.flows),
        "expected": seq.expected,
        "received": seq.received,
        "lost": seq.lost,
        "flows_with_loss": seq.flows_with_loss,
        "reordered": seq.reordered,
        "flows_reordered": seq.flows_reordered,
        "unstamped": reasons.get(Reason.NOTE_UNSTAMPED, 0),
        "clock_skew": reasons.get(Reason.NOTE_CLOCK_SKEW, 0),
        "slot_ns": sink.slot_ns,
        "throughput": [{"slot": s, "packets": p, "bytes": b}
                       for s, (p, b) in sink.slots().items()],
        "latency_ns_by_slot": [{"slot": s, **h.summary(PERCENTILES)}
                               for s, h in sink.slot_histograms().items()],
    }
