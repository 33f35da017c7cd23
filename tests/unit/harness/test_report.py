"""Reports and plots from a synthetic run: what a reader gets, without a testbed."""

from s6nf.harness import report
from s6nf.measure.histogram import Histogram

RESULTS = {
    "nf": "monitor", "mode": "s6", "schedule": "1@0s,2@1s", "rate_pps": 1000, "sent": 2000,
    "workload": {"packets": 2000, "flows": 50, "seed": 1},
    "events": [{"at_s": 1.0, "instances": 2, "moved": 2048, "seconds": 0.5, "ok": True}],
    "measured": {
        "received": 2000, "lost": 0, "flows_with_loss": 0, "reordered": 0,
        "flows_reordered": 0, "slot_ns": 100_000_000,
        "latency_ns_by_phase": {"0": {"count": 1500, "p50": 3000, "p90": 4000, "p99": 9000,
                                      "p99.9": 20000}},
        "throughput": [{"slot": s, "packets": 100, "bytes": 9000} for s in range(20)],
    },
}


def test_markdown_summary_has_the_figures_and_events():
    text = report.markdown(RESULTS)
    assert "| lost | 0 (0 flows) |" in text
    assert "| latency p50 / p99 / p99.9, normal (µs) | 3.0 / 9.0 / 20.0 |" in text
    assert "| to 2 | 1.00 | 2048 | 500 | ok |" in text
    assert "scaling" not in text


def test_plots_are_written_as_png(tmp_path):
    report.plot_throughput(RESULTS, tmp_path / "t.png")
    hists = {0: Histogram.of([3000] * 10 + [5000]), 1: Histogram.of([4000, 90000])}
    report.plot_latency_cdf(hists, tmp_path / "l.png", "title")
    for name in ("t.png", "l.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
