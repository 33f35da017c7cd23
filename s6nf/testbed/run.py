"""A traffic run through the testbed: replay a trace, wait for it to drain, check every packet.

Used by ``s6nf testbed replay``, ``s6nf demo`` and the integration tests, so all three judge
a run by the same rules. With the sink reflecting, the rules cover the way back as well: every
packet sent is reflected and received back at gen, each flow gets as many replies as the sink
received of it, and the instances count each flow's packets twice (once each way).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from s6nf.agent.verdicts import Reason
from s6nf.keys import FlowKey
from s6nf.testbed.accounting import Snapshot, gen_returned, sink_received, snapshot
from s6nf.testbed.replay import ReplayResult, replay, wait_until_stable
from s6nf.testbed.testbed import Testbed
from s6nf.testbed.topology import gen_link


@dataclass(frozen=True)
class RunReport:
    sent: ReplayResult
    before: Snapshot
    after: Snapshot

    def delta_flows(self) -> dict[int, dict[FlowKey, int]]:
        out: dict[int, dict[FlowKey, int]] = {}
        for i, flows in self.after.instance_flows.items():
            old = self.before.instance_flows.get(i, {})
            out[i] = {k: n - old.get(k, 0) for k, n in flows.items() if n - old.get(k, 0)}
        return out

    @property
    def steered(self) -> int:
        return self.after.steered - self.before.steered

    @property
    def at_instances(self) -> int:
        return self.after.at_instances - self.before.at_instances

    @property
    def received(self) -> int:
        return self.after.received - self.before.received

    @property
    def reflecting(self) -> bool:
        return self.after.reflecting

    @property
    def reflected(self) -> int:
        return self.after.reflected - self.before.reflected

    @property
    def uplinked(self) -> int:
        return self.after.uplinked - self.before.uplinked

    @property
    def returned(self) -> int:
        return self.after.returned - self.before.returned

    def received_flows(self) -> dict[FlowKey, int]:
        """Canonical flow → packets the sink received of it in this run."""
        return _delta(self.before.sink_flows, self.after.sink_flows)

    def returned_flows(self) -> dict[FlowKey, int]:
        """Canonical flow → replies gen received of it in this run."""
        return _delta(self.before.returned_flows, self.after.returned_flows)

    def reordered(self) -> tuple[int, int]:
        """Packets that arrived behind a later one of their flow: at the sink, back at gen."""
        def grew(before: dict[Reason, int], after: dict[Reason, int]) -> int:
            return after.get(Reason.NOTE_REORDERED, 0) - before.get(Reason.NOTE_REORDERED, 0)
        return (grew(self.before.sink_reasons, self.after.sink_reasons),
                grew(self.before.returned_reasons, self.after.returned_reasons))

    def dropped(self) -> dict[str, int]:
        """"host:interface" → packets its kernel counters dropped during the run."""
        return {name: n - self.before.dropped.get(name, 0)
                for name, n in self.after.dropped.items() if n - self.before.dropped.get(name, 0)}

    def problems(self) -> list[str]:
        """Everything that breaks 'sent = steered = at instances = received' (and, with the sink
        reflecting, '= reflected = forwarded back = received back at gen', per flow too)."""
        out = []
        sent = self.sent.sent
        counts = [("steered at sw", self.steered, sent),
                  ("counted at instances", self.at_instances, sent * (2 if self.reflecting else 1)),
                  ("received at sink", self.received, sent)]
        if self.reflecting:
            counts += [("reflected at sink", self.reflected, sent),
                       ("forwarded back to gen at sw", self.uplinked, sent),
                       ("received back at gen", self.returned, sent)]
        for what, n, expected in counts:
            if n != expected:
                out.append(f"sent {sent} packets: expected {expected} {what}, got {n}")
        if self.reflecting:
            out.extend(reply_mismatch(self.received_flows(), self.returned_flows()))
        for where, n in zip(("at sink", "back at gen"), self.reordered(), strict=True):
            if n:
                out.append(f"{n} packets arrived reordered {where}")
        for name, n in sorted(self.dropped().items()):
            out.append(f"{name} dropped {n} packets")
        seen: dict[bytes, list[int]] = {}
        for i, flows in self.delta_flows().items():
            for key in flows:
                seen.setdefault(key.canonical(), []).append(i)
        split = [k for k, where in seen.items() if len(where) > 1]
        if split:
            out.append(f"{len(split)} flows were seen on more than one instance")
        return out


def reply_mismatch(received: dict[FlowKey, int], returned: dict[FlowKey, int]) -> list[str]:
    """Each flow must get back as many replies as the sink received of it. An NF that rewrites
    addresses (the NAT) gives the flow another key at the sink than at gen: then only the
    per-flow counts can be compared, not which key has which."""
    if set(received) == set(returned):
        off = sum(1 for k, n in received.items() if returned[k] != n)
    elif sorted(received.values()) != sorted(returned.values()):
        off = max(1, abs(len(received) - len(returned)))
    else:
        off = 0
    if not off:
        return []
    return [f"{off} flows got back another number of replies than the sink received of them"]


def _delta(before: dict[FlowKey, int], after: dict[FlowKey, int]) -> dict[FlowKey, int]:
    return {k: n - before.get(k, 0) for k, n in after.items() if n - before.get(k, 0)}


def run_trace(testbed: Testbed, pcap: Path, pps: int | None = None) -> RunReport:
    before = snapshot(testbed)
    topo = testbed.topology()
    sent = replay(topo.namespace("gen"), gen_link().a.ifname, pcap, pps)
    wait_until_stable(lambda: sink_received(testbed), before.received + sent.sent)
    if before.reflecting:
        wait_until_stable(lambda: gen_returned(testbed), before.returned + sent.sent)
    return RunReport(sent, before, snapshot(testbed))
