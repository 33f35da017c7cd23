"""The testbed driver of the equivalence check: the same question as the fast driver, asked
of real traffic through ``gen → sw → nf* → sink`` with one agent process per instance under
the controller (through the bench harness, ``s6nf.harness.runner``).

One generated trace runs twice, each on a fresh testbed: through one instance that never
scales (the reference), then under a schedule (``1@0s,2@1s,1@2s``: instances @ time). Then:

- *Outputs at the sink, per flow*: every packet carries its flow's sequence number from gen
  (the stamper), and the sink counts, per flow, the packets it received and those that came
  behind a later one. Equal counts with none behind means the same packets in the same order
  (``harness.compare.equivalence``); flows are named by the sink's 5-tuple, which for the NAT
  is the flow's public key in *that* run (read from its forward entry), so its ports are
  renamed per flow. Payload bytes are not compared here (the fast driver compares frames byte
  for byte); headers are, through the key the sink files a packet under.
- *Final state*: per-flow entries from the instances' pinned maps (fields but clocks; the
  NAT's by inside key, since its public ports differ), each at one instance; the asset
  monitor's assets and totals and the IDS's rule alerts from the agents' control services.
  The IDS's alerts are compared per flow as a multiset: each agent lists its own in order,
  and a flow's may be split over agents whose lists do not say which came first. The IDS runs
  with no port-scan threshold in reach (the fast driver checks scans: the testbed's workload
  gives every source about one flow).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s6nf.equiv.compare import Violation
from s6nf.harness.runner import run_modes
from s6nf.harness.schedule import parse_schedule
from s6nf.harness.spec import BenchSpec
from s6nf.keys import FlowKey
from s6nf.testbed.workload import Distribution

ZEROS = 24
IDS_RULES = (
    f'alert tcp any any -> any [80,8080] (msg:"zero run"; content:"|{" ".join(["00"] * ZEROS)}|"; '
    "sid:7;)\n"
    f'alert udp any any -> any 53 (msg:"zero run (pcre)"; pcre:"/\\x00{{{ZEROS}}}/s"; sid:8;)\n')
"""Data packets (the stamper's header, then zeros) of flows to some service ports match; the
other flows are not inspected and stay on the fast path."""


@dataclass(frozen=True)
class TestbedCheck:
    nf: str
    schedule: str
    """Instances @ time, e.g. ``1@0s,2@1s,1@2s`` (the reference runs one instance)."""
    out: Path
    """Where the bench harness writes its results (and the IDS's rules file)."""
    mode: str = "s6"
    flows: int = 400
    rate_pps: int = 2000
    seed: int = 1
    name: str = "s6eq"
    """Testbed name (namespaces and pins)."""


def _options(check: TestbedCheck) -> dict[str, str]:
    if check.nf == "nat":
        from s6nf.harness.spec import NAT_OPTIONS

        return dict(NAT_OPTIONS)
    if check.nf == "monitor":
        return {}
    if check.nf == "ids":
        rules = check.out / "equiv.rules"
        check.out.mkdir(parents=True, exist_ok=True)
        rules.write_text(IDS_RULES)
        return {"rules": str(rules), "scan_threshold": "100000"}
    raise ValueError(f"the testbed check runs nat, monitor and ids, not {check.nf!r}")


def run_check(check: TestbedCheck, progress: Callable[[str], None] = print
              ) -> tuple[list[Violation], dict[str, Any]]:
    """Both runs, and every way the scaled one differs from the reference (empty: none)."""
    spec = BenchSpec(parse_schedule(check.schedule), rate_pps=check.rate_pps, flows=check.flows,
                     concurrency=max(1, check.flows // 4), out=check.out, name=check.name,
                     seed=check.seed, nf=check.nf, mode=check.mode, ramp_s=0.5,
                     flow_size=Distribution("pareto", 12.0, 1.5), nf_options=_options(check))
    results = run_modes(spec, [check.mode], progress, single_reference=True)
    return compare_runs(results["reference"], results["modes"][check.mode]), results


def compare_runs(ref: dict[str, Any], got: dict[str, Any]) -> list[Violation]:
    out: list[Violation] = []
    for what, run in (("reference", ref), ("scaled run", got)):
        loss = run["loss"]
        if loss["packets"] or loss["unsent_key_packets"] or run["measured"]["reordered"]:
            kind = "reference" if run is ref else "output"
            out.append(Violation(kind, None, f"{what}: lost {loss['packets']} packets "
                                             f"({loss['flows']} flows), "
                                             f"{loss['unsent_key_packets']} under keys never "
                                             f"sent, {run['measured']['reordered']} reordered"))
    out += [Violation("run", None, f"scale event to {e['instances']} at {e['at_s']:.2f} s "
                                   "failed") for e in got["events"] if not e["ok"]]
    eq = got["equivalence"]
    if not eq["equal"]:
        out.append(Violation("output", None, f"{eq['flows_differing']} of "
                                             f"{eq['flows_compared']} flows reached the sink "
                                             f"otherwise (received, reordered): "
                                             f"{eq['examples']}"))
    _state(ref["state"], got["state"], out)
    _agents(ref.get("agents", {}), got.get("agents", {}), out)
    return out


def _state(ref: dict[str, Any], got: dict[str, Any], out: list[Violation]) -> None:
    if got["held_twice"]:
        out.append(Violation("placement", None, f"{got['held_twice']} flows' entries at more "
                                                "than one instance"))
    want, have = ref["flows"], got["flows"]
    differing = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
    if differing:
        examples = {k: (want.get(k), have.get(k)) for k in differing[:3]}
        out.append(Violation("state", None, f"{len(differing)} of {len(want)} flows' entries "
                                            f"differ (reference, scaled): {examples}"))


def _alerts(alerts: list[dict[str, Any]]) -> Counter[tuple[bytes, str]]:
    return Counter((FlowKey.of(a["src"], a["dst"], a["sport"], a["dport"],
                               6 if a["proto"] == "tcp" else 17).canonical(),
                    f"{a['event']} {a.get('sid', '')}") for a in alerts)


def _agents(ref: dict[str, Any], got: dict[str, Any], out: list[Violation]) -> None:
    if "alerts" in ref or "alerts" in got:
        want, have = _alerts(ref.get("alerts", [])), _alerts(got.get("alerts", []))
        if not want:
            out.append(Violation("reference", None, "no alert: the check compares nothing"))
        if want != have:
            missing, extra = want - have, have - want
            out.append(Violation("alert", None, f"alerts missing in the scaled run: "
                                                f"{sum(missing.values())}, extra: "
                                                f"{sum(extra.values())} (of "
                                                f"{sum(want.values())})"))
    for name in ("assets", "totals"):
        if name in ref or name in got:
            a, b = ref.get(name), got.get(name)
            if a != b:
                keys = sorted(k for k in set(a or {}) | set(b or {})
                              if (a or {}).get(k) != (b or {}).get(k))
                out.append(Violation("shared", None, f"{name} differ at {len(keys)} keys, "
                                                     f"e.g. {keys[:3]}"))
