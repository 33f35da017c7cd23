"""Short `s6nf bench` runs on the testbed: scale under stamped load, modes side by side (root
only)."""

import json
import os

import pytest

from s6nf.harness.compare import TARGETS
from s6nf.harness.runner import OUTPUT_FILES, run, run_modes
from s6nf.harness.schedule import parse_schedule
from s6nf.harness.spec import BenchSpec
from s6nf.testbed.workload import Distribution

pytestmark = [pytest.mark.root, pytest.mark.timeout(240)]


def test_a_scale_event_under_load_loses_and_reorders_nothing(tmp_path):
    spec = BenchSpec(parse_schedule("1@0s,2@1s"), rate_pps=5000, flows=1500, concurrency=500,
                     out=tmp_path / "out", name=f"ib{os.getpid() % 100000}")
    results = run(spec, progress=lambda _: None)
    m = results["measured"]
    saved = json.loads((spec.out / "results.json").read_text())
    assert results["sent"] == m["received"] == saved["workload"]["packets"]
    assert m["lost"] == 0 and m["reordered"] == 0
    assert [e["ok"] for e in results["events"]] == [True]
    assert m["latency_ns"]["count"] == results["sent"]
    assert saved["modes"]["s6"]["sent"] == results["sent"]
    for name in OUTPUT_FILES:
        assert (spec.out / name).stat().st_size > 0


def test_two_modes_of_the_nat_side_by_side_write_every_file(tmp_path):
    spec = BenchSpec(parse_schedule("1@0s,2@1s"), rate_pps=3000, flows=120, concurrency=60,
                     out=tmp_path / "out", name=f"im{os.getpid() % 100000}", nf="nat",
                     ramp_s=0.5, flow_size=Distribution("pareto", 40.0, 1.2))
    results = run_modes(spec, ["s6", "stop-and-copy"], progress=lambda _: None,
                        single_reference=True)
    assert set(OUTPUT_FILES) == {p.name for p in spec.out.iterdir()}
    for name in OUTPUT_FILES:
        if name.endswith(".png"):
            assert (spec.out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((spec.out / "results.json").read_text())
    assert {"nf", "schedule", "rate_pps", "workload", "modes", "reference", "ratios",
            "environment"} <= saved.keys()
    assert list(saved["modes"]) == ["s6", "stop-and-copy"]
    assert saved["ratios"].keys() == {t.key for t in TARGETS}
    assert {"s6nf", "bcc", "tcpreplay"} <= saved["environment"]["versions"].keys()
    for mode, run_ in saved["modes"].items():
        assert run_["mode"] == mode
        assert {"sent", "events", "measured", "histograms", "throughput_normal_pps",
                "instances", "equivalence"} <= run_.keys()
        assert run_["sent"] == results["workload"]["packets"]
        assert [e["ok"] for e in run_["events"]] == [True]
    s6 = saved["modes"]["s6"]
    assert s6["measured"]["lost"] == 0 and s6["measured"]["reordered"] == 0
    assert s6["equivalence"]["equal"]
    assert s6["equivalence"]["flows_compared"] == results["workload"]["flows"]
    assert saved["reference"]["events"] == []
    summary = (spec.out / "summary.md").read_text()
    assert "| figure | s6 | stop-and-copy |" in summary
    assert "| output equals a single-instance run | yes" in summary


def test_the_monitor_runs_its_slow_path_and_a_capacity_run_delivers_every_packet(tmp_path):
    spec = BenchSpec(parse_schedule("1@0s,2@1s"), rate_pps=4000, flows=800, concurrency=300,
                     out=tmp_path / "out", name=f"ic{os.getpid() % 100000}", ramp_s=0.5,
                     capacity_instances=2)
    results = run_modes(spec, ["s6"], progress=lambda _: None)
    s6 = results["modes"]["s6"]
    assert s6["measured"]["lost"] == 0 and s6["measured"]["reordered"] == 0
    assert sum(v.get("punted", 0) for v in s6["instances"].values()) >= results["workload"]["flows"]
    cap = s6["capacity"]
    assert cap["instances"] == 2 and cap["sent"] == cap["received"] == s6["sent"]
    assert cap["lost"] == 0 and cap["offered_pps"] > spec.rate_pps
    assert cap["delivered_pps"] > 0
    summary = (spec.out / "summary.md").read_text()
    assert "| capacity: delivered / offered packets/s" in summary
