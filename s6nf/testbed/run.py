"""A traffic run through the testbed: replay a trace, wait for it to drain, check every packet.

Used by ``s6nf testbed replay``, ``s6nf demo`` and the integration tests, so all three judge
a run by the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from s6nf.keys import FlowKey
from s6nf.testbed.accounting import Snapshot, snapshot
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

    def problems(self) -> list[str]:
        """Everything that breaks 'sent = steered = at instances = received'."""
        out = []
        for what, n in (("steered at sw", self.steered), ("counted at instances",
                                                          self.at_instances),
                        ("received at sink", self.received)):
            if n != self.sent.sent:
                out.append(f"sent {self.sent.sent} packets but {n} were {what}")
        seen: dict[bytes, list[int]] = {}
        for i, flows in self.delta_flows().items():
            for key in flows:
                seen.setdefault(key.canonical(), []).append(i)
        split = [k for k, where in seen.items() if len(where) > 1]
        if split:
            out.append(f"{len(split)} flows were seen on more than one instance")
        return out


def run_trace(testbed: Testbed, pcap: Path, pps: int | None = None) -> RunReport:
    before = snapshot(testbed)
    topo = testbed.topology()
    sent = replay(topo.namespace("gen"), gen_link().a.ifname, pcap, pps)
    target = before.received + sent.sent
    wait_until_stable(lambda: snapshot(testbed).received, target)
    return RunReport(sent, before, snapshot(testbed))
