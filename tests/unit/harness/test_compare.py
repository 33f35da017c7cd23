"""The side-by-side figures: throughput outside scale events, the issue's ratios, and the
comparison with a single-instance run."""

import pytest

from s6nf.harness.compare import (
    TARGETS,
    capacity_figures,
    equivalence,
    loss_figures,
    normal_throughput_pps,
    ratios,
    replication_cost,
    run_name,
)


def _run(events, slots, replay_seconds=1.0):
    return {"events": events, "replay_seconds": replay_seconds,
            "measured": {"slot_ns": 100_000_000,
                         "throughput": [{"slot": s, "packets": p, "bytes": 0}
                                        for s, p in slots.items()]}}


def test_normal_throughput_leaves_out_scale_events_and_slots_past_the_replay():
    slots = dict.fromkeys(range(10), 100) | {4: 10, 5: 10, 12: 1}
    event = {"at_s": 0.42, "seconds": 0.15}
    assert normal_throughput_pps(_run([event], slots)) == pytest.approx(1000)
    assert normal_throughput_pps(_run([], slots)) == pytest.approx(820)
    assert normal_throughput_pps(_run([{"at_s": 0.0, "seconds": 5.0}], slots)) is None


def test_capacity_counts_from_the_first_packet_to_the_end_of_the_replay():
    slots = {0: 0, 1: 0, 2: 500, 3: 700, 4: 600, 5: 40}
    run = _run([], slots, replay_seconds=0.55) | {
        "sent": 2000, "instances": {"0": {"drop_punt_full": 30}, "1": {"fast_path": 9}}}
    run["measured"] |= {"received": 1840, "lost": 160, "flows_with_loss": 3}
    cap = capacity_figures(run)
    assert cap["delivered_pps"] == pytest.approx(6000)
    assert cap["offered_pps"] == pytest.approx(2000 / 0.55)
    assert (cap["instances"], cap["lost"], cap["drop_punt_full"]) == (2, 160, 30)
    after_ramp = capacity_figures(run | {"last_part_at_s": 0.25, "last_part_sent": 1000})
    assert after_ramp["delivered_pps"] == pytest.approx(6500)
    assert after_ramp["offered_pps"] == pytest.approx(1000 / 0.3)


def _lat(p50, p99):
    return {"count": 10, "p50": p50, "p90": p99, "p99": p99, "p99.9": p99}


def test_ratios_need_both_modes():
    s6 = {"measured": {"latency_ns_by_phase": {"0": _lat(3000, 9000), "1": _lat(6000, 10_000)}},
          "throughput_normal_pps": 900.0}
    snc = {"measured": {"latency_ns_by_phase": {"0": _lat(3000, 9000), "1": _lat(9000, 2e6)}},
           "throughput_normal_pps": 1000.0}
    local = {"measured": {"latency_ns_by_phase": {}}, "throughput_normal_pps": 1000.0,
             "capacity": {"delivered_pps": 2000.0}}
    s6["capacity"] = {"delivered_pps": 1700.0}
    got = ratios({"s6": s6, "stop-and-copy": snc, "local-only": local})
    assert got == {"p99_scaling_stop_and_copy_over_s6": 200.0, "p50_scaling_over_normal_s6": 2.0,
                   "throughput_s6_over_local_only": 0.9, "throughput_s6_over_remote_only": None,
                   "capacity_s6_over_local_only": 0.85, "capacity_s6_over_remote_only": None}
    assert [t.met(got[t.key]) for t in TARGETS] == [True, True, True, None, False, None]
    assert ratios({"s6": s6})["p99_scaling_stop_and_copy_over_s6"] is None


def test_equivalence_flow_by_flow():
    single = {b"a": (10, 0), b"b": (5, 0)}
    assert equivalence({b"a": (10, 0), b"b": (5, 0)}, single)["equal"]
    lost = equivalence({b"a": (9, 0), b"b": (5, 0)}, single)
    assert not lost["equal"] and lost["flows_differing"] == 1
    assert lost["examples"] == [{"run": (9, 0), "single": (10, 0)}]
    assert equivalence({b"a": (10, 1), b"b": (5, 0)}, single)["flows_differing"] == 1
    assert equivalence({b"a": (10, 0)}, single)["flows_differing"] == 1


def test_loss_is_counted_flow_by_flow_apart_from_keys_never_sent():
    from s6nf.measure.sequence import FlowSequence, SequenceReport

    report = SequenceReport({b"a": FlowSequence(10, 6, 0), b"b": FlowSequence(5, 5, 0),
                             b"a2": FlowSequence(0, 4, 0)})
    assert report.lost == 0
    assert loss_figures(report) == {"packets": 4, "flows": 1, "unsent_key_packets": 4,
                                    "unsent_key_flows": 1}


def test_replication_cost_puts_each_setting_over_the_first_in_the_same_mode():
    def run(pps, capacity, p50):
        return {"measured": {"latency_ns_by_phase": {"0": _lat(p50, 2 * p50)}},
                "throughput_normal_pps": pps, "capacity": {"delivered_pps": capacity}}

    runs = {run_name("s6", "off", "off"): run(1000.0, 4000.0, 3000),
            run_name("s6", "declared", "off"): run(950.0, 3000.0, 3300),
            run_name("local-only", "off", "off"): run(1000.0, 5000.0, 2000)}
    assert list(runs) == ["s6", "s6+declared", "local-only"]
    got = replication_cost(runs, ["s6", "local-only"], ["off", "declared"])
    assert got["s6"]["declared"] == pytest.approx({
        "throughput_normal": 0.95, "capacity": 0.75, "p50_latency_normal": 1.1,
        "p99_latency_normal": 1.1})
    assert got["local-only"]["declared"] == dict.fromkeys(got["s6"]["declared"])
    assert replication_cost(runs, ["s6"], ["off"]) == {}
