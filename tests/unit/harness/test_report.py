"""Reports and plots from a synthetic two-mode run: what a reader gets, without a testbed."""

import copy
from typing import Any

from s6nf.harness import plots, report
from s6nf.harness.compare import ratios


def _run(p99_scaling: int, lost: int, pps_per_slot: int) -> dict[str, Any]:
    return {
        "sent": 2000, "replay_seconds": 2.0,
        "events": [{"at_s": 1.0, "instances": 2, "moved": 2048, "seconds": 0.5, "ok": True}],
        "measured": {
            "received": 2000 - lost, "lost": lost, "flows_with_loss": min(lost, 3),
            "reordered": 0, "flows_reordered": 0, "slot_ns": 100_000_000,
            "latency_ns_by_phase": {
                "0": {"count": 1500, "p50": 3000, "p90": 4000, "p99": 9000, "p99.9": 20000},
                "1": {"count": 500, "p50": 4500, "p90": 6000, "p99": p99_scaling,
                      "p99.9": 2 * p99_scaling}},
            "throughput": [{"slot": s, "packets": pps_per_slot, "bytes": 9000}
                           for s in range(20)],
        },
        "loss": {"packets": lost, "flows": min(lost, 3), "unsent_key_packets": 2 * lost,
                 "unsent_key_flows": lost},
        "histograms": {"0": {"100": 1400, "200": 100}, "1": {"150": 450, "400": 50}},
        "throughput_normal_pps": pps_per_slot * 10.0,
        "equivalence": {"flows_compared": 50, "flows_differing": 0, "equal": True,
                        "examples": []},
    }


MODES = {"s6": _run(12_000, 0, 100), "stop-and-copy": _run(3_000_000, 7, 100)}
RESULTS: dict[str, Any] = {
    "nf": "nat", "schedule": "1@0s,2@1s", "rate_pps": 1000,
    "workload": {"packets": 2000, "flows": 50, "concurrency": 20, "seed": 1, "ramp_s": 0.5,
                 "flow_size": {"kind": "pareto", "mean": 40.0, "shape": 1.2}},
    "modes": MODES, "ratios": ratios(MODES),
}


def test_the_table_has_a_column_per_mode_and_a_row_per_figure():
    text = report.markdown(RESULTS)
    assert "| figure | s6 | stop-and-copy |" in text
    assert "| lost packets (flows) | 0 (0) | 7 (3) |" in text
    assert "| packets under a key never sent (flows) | 0 (0) | 14 (7) |" in text
    assert ("| latency p50 / p99 / p99.9, during scale events (µs) | 4.5 / 12.0 / 24.0 | "
            "4.5 / 3,000.0 / 6,000.0 |") in text
    assert "| latency p50 / p99 / p99.9, normal (µs) | 3.0 / 9.0 / 20.0 | 3.0 / 9.0 / 20.0 |" \
        in text
    assert "| output equals a single-instance run | yes (50 flows) | yes (50 flows) |" in text
    assert "| stop-and-copy | to 2 | 1.00 | 2048 | 500 | ok |" in text
    assert "2,000 packets of 50 flows, 20 active at once, flow size pareto mean 40" in text


def test_the_ratios_are_computed_and_judged_against_the_targets():
    text = report.markdown(RESULTS)
    assert "| p99 latency during scale events, stop-and-copy ÷ s6 | 250 | ≥ 100 | yes |" in text
    assert ("| s6 p50 latency during scale events ÷ its p50 in normal operation | 1.50 | ≤ 2 | "
            "yes |") in text
    assert "| throughput in normal operation, s6 ÷ local-only | — | ≥ 0.9 | — |" in text


def test_a_run_that_differs_from_the_single_instance_run_says_so():
    results = copy.deepcopy(RESULTS)
    results["modes"]["stop-and-copy"]["equivalence"].update(flows_differing=4, equal=False)
    assert "| yes (50 flows) | no: 4 of 50 flows differ |" in report.markdown(results)


def test_plots_are_written_as_png(tmp_path):
    plots.throughput(RESULTS, tmp_path / "t.png")
    plots.latency_cdf(RESULTS, tmp_path / "l.png")
    plots.modes(RESULTS, tmp_path / "m.png")
    for name in ("t.png", "l.png", "m.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_histograms_come_back_from_their_json_form():
    hist = plots.histogram({"100": 3, "7": 2})
    assert hist.total == 5 and hist.counts[100] == 3 and hist.counts[7] == 2


def test_the_cost_of_replication_is_a_table_of_its_own_when_settings_ran_side_by_side():
    runs = {"s6": _run(12_000, 0, 100) | {"replication": "off"},
            "s6+declared": _run(12_000, 0, 90) | {
                "replication": "declared",
                "load_average": {"before": [1.24, 1, 1], "after": [2.5, 1, 1]},
                "replication_counters": {"0": {"copies_sent": 1500, "sweep_passes": 3},
                                         "1": {"copies_sent": 900, "sweep_passes": 11}}}}
    results = RESULTS | {"modes": runs, "ratios": ratios(runs), "replication": "off",
                         "replication_cost": {"s6": {"declared": {
                             "throughput_normal": 0.9, "capacity": None,
                             "p50_latency_normal": 1.0, "p99_latency_normal": 1.25}}}}
    text = report.markdown(results)
    assert "| figure | s6 | s6+declared |" in text
    assert "| the agents' replication | off | declared |" in text
    assert "| machine load average (1 min), before / after the run | — | 1.2 / 2.5 |" in text
    assert "| copies sent to backups; longest sweep (passes) | — | 2,400; 11 |" in text
    assert "| s6 | declared | 0.90 | — | 1.00 | 1.25 |" in text
    assert "Cost of replication" not in report.markdown(RESULTS)
