"""Short `s6nf bench` runs on the testbed: scale under stamped load, modes side by side (root
only)."""

import ipaddress
import json
import os

import pytest

from s6nf.harness.compare import TARGETS
from s6nf.harness.runner import OUTPUT_FILES, run, run_modes
from s6nf.harness.schedule import parse_schedule
from s6nf.harness.spec import BenchSpec
from s6nf.testbed.sockets import ESTABLISHED, LISTEN
from s6nf.testbed.topology import default_config
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
    assert_control_plane_on_the_management_network(saved["modes"]["s6"]["control_plane"], 2)


def assert_control_plane_on_the_management_network(record, instances, state=False):
    """Every control-plane socket the run recorded is between management addresses (none on
    loopback), and the connections a scale event needs were there: controller → target,
    each agent → the controller, and with ``state`` (an NF whose agents share state) agent →
    agent."""
    network = ipaddress.IPv4Network(record["network"])
    established = {}
    for host, sockets in record["sockets"].items():
        assert sockets, f"no TCP socket in {host}"
        for s in sockets:
            ends = [s["local"]] if s["state"] == LISTEN else [s["local"], s["remote"]]
            for end in ends:
                ip = ipaddress.IPv4Address(end.rpartition(":")[0])
                assert ip in network and not ip.is_loopback, (host, s)
        established[host] = {s["remote"] for s in sockets if s["state"] == ESTABLISHED}
    config = default_config()
    assert config.target.address in established["ctl"]
    agents = [f"nf{i}" for i in range(instances)]
    for host in agents:
        assert config.controller_address in established[host], host
    state_ports = {f"{config.host(h).management_ip}:{config.nf.state_port}" for h in agents}
    assert not state or any(established[h] & state_ports for h in agents), \
        "no agent-to-agent channel"


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
        assert_control_plane_on_the_management_network(run_["control_plane"], 2, state=True)
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


def test_replication_settings_run_side_by_side_and_their_cost_is_a_ratio(tmp_path):
    spec = BenchSpec(parse_schedule("1@0s,2@1s"), rate_pps=3000, flows=120, concurrency=60,
                     out=tmp_path / "out", name=f"ir{os.getpid() % 100000}", nf="nat",
                     ramp_s=0.5, flow_size=Distribution("pareto", 40.0, 1.2))
    results = run_modes(spec, ["s6"], progress=lambda _: None,
                        replications=["off", "declared"])
    saved = json.loads((spec.out / "results.json").read_text())
    assert list(saved["modes"]) == ["s6", "s6+declared"]
    assert (saved["replication"], saved["replications"]) == ("off", ["off", "declared"])
    for name, setting in (("s6", "off"), ("s6+declared", "declared")):
        run_ = saved["modes"][name]
        assert (run_["mode"], run_["replication"]) == ("s6", setting)
        assert run_["sent"] == run_["measured"]["received"] == results["workload"]["packets"]
        assert len(run_["load_average"]["before"]) == 3
    cost = saved["replication_cost"]["s6"]["declared"]
    assert cost["throughput_normal"] is not None and cost["throughput_normal"] > 0
    copies = {name: sum(c["copies_sent"] for c in saved["modes"][name]["replication_counters"]
                        .values()) for name in ("s6", "s6+declared")}
    assert copies["s6"] == 0 and copies["s6+declared"] >= 2 * results["workload"]["flows"]
    assert "| s6 | declared |" in (spec.out / "summary.md").read_text()
