"""The NAT under scale events with its agents, through the bench harness (root only): every
packet translated and delivered in order, and every flow's state at one instance after."""

import os

import pytest

from s6nf.harness.runner import BenchSpec, run
from s6nf.harness.schedule import parse_schedule
from s6nf.testbed.workload import Distribution

pytestmark = [pytest.mark.root, pytest.mark.timeout(240)]


def test_the_nat_scales_out_and_in_under_load_without_loss_or_reordering(tmp_path):
    spec = BenchSpec(parse_schedule("1@0s,2@2s,1@4s"), rate_pps=10_000, flows=2000,
                     concurrency=1000, out=tmp_path / "out", name=f"ibn{os.getpid() % 10000}",
                     nf="nat", ramp_s=1.0, flow_size=Distribution("pareto", 40.0, 1.5))
    results = run(spec, progress=lambda _: None)
    m = results["measured"]
    assert [e["ok"] for e in results["events"]] == [True, True]
    assert results["sent"] == m["expected"] == m["received"]
    assert m["lost"] == 0 and m["reordered"] == 0
    assert results["state"]["held_twice"] == 0
    assert results["state"]["entries"] == 2 * results["workload"]["flows"]
    moved = [v for v in results["instances"].values() if v.get("forward")]
    assert len(moved) == 2, "traffic reached both instances"
