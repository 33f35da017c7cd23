"""The NAT under scale events with its agents, through the bench harness (root only): every
packet translated and delivered in order, every flow's state at one instance after, and that
state equal to a single instance's on the same trace (the testbed's output-equivalence
check: public ports may differ, so flows are named by their inside keys)."""

import os

import pytest

from s6nf.harness.runner import run_modes
from s6nf.harness.schedule import parse_schedule
from s6nf.harness.spec import BenchSpec
from s6nf.testbed.workload import Distribution

pytestmark = [pytest.mark.root, pytest.mark.timeout(300)]


def nat_run(tmp_path, schedule: str, tag: str):
    spec = BenchSpec(parse_schedule(schedule), rate_pps=10_000, flows=2000, concurrency=1000,
                     out=tmp_path / tag, name=f"ib{tag}{os.getpid() % 1000}", nf="nat",
                     ramp_s=1.0, flow_size=Distribution("pareto", 40.0, 1.5), seed=3)
    results = run_modes(spec, ["s6"], progress=lambda _: None)
    return results["modes"]["s6"], results["workload"]


def test_the_nat_scales_out_and_in_under_load_like_one_instance(tmp_path):
    scaled, workload = nat_run(tmp_path, "1@0s,2@2s,1@4s", "s")
    m = scaled["measured"]
    assert [e["ok"] for e in scaled["events"]] == [True, True]
    assert scaled["sent"] == m["expected"] == m["received"]
    assert m["lost"] == 0 and m["reordered"] == 0
    assert scaled["state"]["held_twice"] == 0
    assert scaled["state"]["entries"] == 2 * workload["flows"]
    assert len([v for v in scaled["instances"].values() if v.get("forward")]) == 2

    single, same = nat_run(tmp_path, "1@0s,1@4s", "r")
    assert single["measured"]["lost"] == 0
    assert same == workload
    assert scaled["state"]["flows"] == single["state"]["flows"]
