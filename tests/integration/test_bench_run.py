"""A short `s6nf bench` run on the testbed: scale under stamped load (root only)."""

import json
import os

import pytest

from s6nf.harness.runner import BenchSpec, run
from s6nf.harness.schedule import parse_schedule

pytestmark = [pytest.mark.root, pytest.mark.timeout(180)]


def test_a_scale_event_under_load_loses_and_reorders_nothing(tmp_path):
    spec = BenchSpec(parse_schedule("1@0s,2@1s"), rate_pps=5000, flows=1500, concurrency=500,
                     out=tmp_path / "out", name=f"ib{os.getpid() % 100000}")
    results = run(spec, progress=lambda _: None)
    m = results["measured"]
    assert results["sent"] == m["received"] == results["workload"]["packets"]
    assert m["lost"] == 0 and m["reordered"] == 0
    assert [e["ok"] for e in results["events"]] == [True]
    assert m["latency_ns"]["count"] == results["sent"]
    assert json.loads((spec.out / "results.json").read_text())["sent"] == results["sent"]
    for name in ("summary.md", "throughput.png", "latency_cdf.png"):
        assert (spec.out / name).stat().st_size > 0
