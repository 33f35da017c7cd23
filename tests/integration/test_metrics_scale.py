"""Prometheus metrics scraped during a real scale event under traffic (root only): the NAT on
the embedded testbed, its two agents and the controller each in its namespace serving /metrics
on its management address, scraped every 100 ms (from the controller's host) while a trace
runs and the NAT scales from one instance to two. The scrapes must show the migration start
and finish — on the controller (scale in progress 0 → 1 → 0, the migrate phase, the epoch
advancing once) and on the agents (migration in progress 0 → 1 → 0, objects moved rising,
then still) — and the figures operators watch must be there: packets by verdict, the
slow-path queue, DSO requests by kind with their latency, map occupancy. The trace loses
nothing, and ``s6nf status`` shows the same per instance."""

import dataclasses
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from s6nf.cli_status import format_status
from s6nf.metrics import parse_text
from s6nf.testbed.console import Console
from s6nf.testbed.run import run_trace
from s6nf.testbed.services import CONTROLLER, management_services
from s6nf.testbed.testbed import Testbed
from s6nf.testbed.topology import default_config, gen_link
from s6nf.testbed.workload import WorkloadSpec, generate

pytestmark = [pytest.mark.root, pytest.mark.timeout(240)]
NAT_OPTIONS = {"public": "198.51.100.1", "ports": "10000-59999", "idle_timeout_s": "600",
               "close_linger_s": "600"}
CONTROLLER_METRICS = 9691
AGENT_METRICS = 9692


class Scraper(threading.Thread):
    """Scrapes every endpoint every ``interval_s`` until stopped: (time, {name: metrics}),
    through a console of its own (the control plane's is busy during a scale call)."""

    def __init__(self, console: Console, urls: dict[str, str], interval_s: float = 0.1) -> None:
        super().__init__(name="scraper", daemon=True)
        self.console = console
        self.urls = urls
        self.interval_s = interval_s
        self.scrapes: list[tuple[float, dict[str, dict[str, float]]]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.scrapes.append((time.monotonic(), {
                name: parse_text(self.console.http_get(url)) for name, url in self.urls.items()}))
            self.stop.wait(self.interval_s)

    def series(self, who: str, metric: str) -> list[float]:
        return [s[who].get(metric, float("nan")) for _, s in self.scrapes]


def runs(values: list[float]) -> list[float]:
    """``values`` with repeats collapsed: [0, 0, 1, 1, 0] → [0, 1, 0]."""
    return [v for i, v in enumerate(values) if i == 0 or v != values[i - 1]]


@pytest.fixture(scope="module")
def bed():
    base = default_config()
    config = dataclasses.replace(base, nf=dataclasses.replace(base.nf, name="nat"))
    tb = Testbed(f"ms{os.getpid() % 100000}", config=config)
    tb.up(2, steer=False)
    try:
        yield tb
    finally:
        tb.down()


def test_scrapes_during_a_scale_event_under_traffic_show_the_migration_start_and_finish(
        bed, tmp_path):
    tb = bed
    spec = WorkloadSpec(flows=1500, concurrency=600, rate_pps=4000, one_way=True,
                        dst_mac=gen_link().b.mac, seed=21, ramp_s=1.0)
    workload = generate(tmp_path / "scale.pcap", spec)
    with management_services(tb, tmp_path / "controller.json", nf_options=NAT_OPTIONS,
                             metrics_port=CONTROLLER_METRICS,
                             agent_metrics_port=AGENT_METRICS) as plane, \
            Console(tb.namespace(tb.config.controller.host)) as scrape_console, \
            ThreadPoolExecutor(1) as pool:
        plane.wait_registered(2)
        assert plane.scale_to(1)["ok"]
        scraper = Scraper(scrape_console, {name: plane.metrics_url(name)
                                           for name in (tb.config.controller.host, "nf0",
                                                        "nf1")})
        scraper.start()
        replay = pool.submit(run_trace, tb, workload.path, 4000)
        time.sleep(2.5)
        outcome = plane.scale_to(2)
        report = replay.result()
        time.sleep(1.0)
        scraper.stop.set()
        scraper.join()
        status = plane.console.call(plane.address, CONTROLLER, "Status", {"instances": True})
    controller = tb.config.controller.host
    assert outcome["ok"], outcome
    assert report.problems() == []
    assert len(scraper.scrapes) > 20

    ctl_progress = runs(scraper.series(controller, "s6nf_controller_scale_in_progress"))
    assert ctl_progress == [0, 1, 0], ctl_progress
    migrations = scraper.series(controller,
                                's6nf_controller_scale_phases_started_total{phase="migrate"}')
    assert runs(migrations) == [0, 1], migrations
    assert runs(scraper.series(controller,
                               's6nf_controller_scale_events_total{outcome="ok"}')) == [1, 2]
    assert runs(scraper.series(controller, "s6nf_controller_epoch")) == [1, 2]
    assert runs(scraper.series(controller, "s6nf_controller_buckets_moved_total"))[-1] == \
        4096 + 2048

    for nf in ("nf0", "nf1"):
        assert runs(scraper.series(nf, "s6nf_agent_migration_in_progress")) == [0, 1, 0], nf
        assert runs(scraper.series(nf, "s6nf_agent_epoch"))[-2:] == [1, 2], nf
        assert scraper.series(nf, "s6nf_agent_objects_to_push")[-1] == 0
    pushed = scraper.series("nf0", 's6nf_agent_migrated_objects_total{how="pushed"}')
    pulled = scraper.series("nf1", 's6nf_agent_migrated_objects_total{how="pulled"}')
    received = scraper.series("nf1", 's6nf_agent_migrated_objects_total{how="received"}')
    moved = [a + b for a, b in zip(pulled, received, strict=True)]
    assert pushed[0] == moved[0] == 0
    assert moved[-1] > 0 and len(runs(moved)) >= 2, "objects arrive at the new instance"
    assert moved[-1] == moved[-3] and pushed[-1] == pushed[-3], "then nothing more moves"

    first, last = scraper.scrapes[0][1], scraper.scrapes[-1][1]
    for nf in ("nf0", "nf1"):
        m = last[nf]
        assert 's6nf_datapath_packets_total{reason="forward"}' in m
        assert 's6nf_datapath_packets_total{reason="punted"}' in m
        assert "s6nf_nf_backlog" in m
        assert m['s6nf_datapath_map_capacity{map="nat_flows"}'] > 0
        assert 's6nf_datapath_map_entries{map="pend"}' in m
        assert 's6nf_nf_events_total{event="table_full"}' in m
    assert last["nf0"]['s6nf_datapath_packets_total{reason="forward"}'] > \
        first["nf0"]['s6nf_datapath_packets_total{reason="forward"}']
    assert last["nf1"]['s6nf_datapath_map_entries{map="nat_flows"}'] > 0, \
        "the entries that moved (how many packets nf1 forwarded depends on how much of the " \
        "trace was left when the event ended, which on a loaded machine can be none)"
    requests = {k: v for k, v in last["nf1"].items()
                if k.startswith("s6nf_agent_dso_request_seconds_count")}
    assert requests and sum(requests.values()) > 0, "DSO requests timed by kind"
    assert any(k.startswith("s6nf_agent_dso_request_seconds_bucket") for k in last["nf1"])

    text = format_status(status)
    assert text.startswith("epoch 2; scale event: none running")
    assert status["instances"]["0"]["packets"]["forward"] > 0
    for i in ("0", "1"):
        r = status["instances"][i]
        assert r["epoch"] == 2 and r["migration"]["in_progress"] == 0
        assert "forward" in r["packets"] and r["maps"]["nat_flows"]["entries"] > 0
        assert f"instance {i}: 2,048 buckets, epoch 2" in text
