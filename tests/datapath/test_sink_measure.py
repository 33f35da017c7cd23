"""The sink's measurement through BPF_PROG_TEST_RUN: latency histograms, loss, reordering,
throughput slots. The sink's clock is fixed through meas_config.clock_ns, so every latency is
exact and the kernel's histogram must equal the one Python computes."""

import math
import random
import time

import pytest
from scapy.compat import raw
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Dot1Q, Ether

from s6nf.agent.loader import load
from s6nf.agent.maps import SinkCounters
from s6nf.agent.test_run import XDP_DROP, run_xdp
from s6nf.agent.verdicts import Reason, verdict_total
from s6nf.keys import FlowKey
from s6nf.measure.header import MeasHeader
from s6nf.measure.histogram import Histogram, bucket_of, bucket_range
from s6nf.measure.sequence import sequence_report

pytestmark = pytest.mark.root

NOW = 5_000_000_000_000
SLOTS = 8


@pytest.fixture
def sink():
    prog = load("sink", defines={"MAX_FLOWS": 64, "MAX_PHASES": 4, "THROUGHPUT_SLOTS": SLOTS})
    with SinkCounters.of(prog) as maps:
        maps.configure(start_ns=0, slot_ns=10**9, clock_ns=NOW)
        yield prog, maps
    prog.close()


def measured(seq, send_ns=0, sport=40000, proto="udp", pad=20, vlan=False, options=False):
    payload = MeasHeader(seq, send_ns).pack() + bytes(pad)
    ip = IP(src="10.1.0.1", dst="10.2.0.1")
    l4 = (UDP(sport=sport, dport=53) if proto == "udp" else
          TCP(sport=sport, dport=80, flags="A",
              options=[("MSS", 1460), ("NOP", None), ("WScale", 7)] if options else []))
    eth = Ether(dst="02:00:00:00:00:01") / Dot1Q(vlan=5) if vlan else Ether(dst="02:00:00:00:00:01")
    return raw(eth / ip / l4 / payload)


def send(prog, packet):
    assert run_xdp(prog.fd, packet).action == XDP_DROP


def nearest_rank(values, p):
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def test_kernel_histogram_equals_python_and_gives_the_same_percentiles(sink):
    prog, maps = sink
    rng = random.Random(11)
    latencies = [int(rng.lognormvariate(11, 2.5)) for _ in range(1500)]
    latencies += [0, 1, 31, 32, 63, 64, 1000, 999_999_999, 1 << 36]
    for i, lat in enumerate(latencies):
        send(prog, measured(i, NOW - lat))
    hist = maps.histogram(0)
    assert hist == Histogram.of(latencies)
    for p in (50, 90, 99, 99.9):
        exact = nearest_rank(latencies, p)
        assert hist.percentile_bucket(p) == bucket_of(exact)
        low, high = bucket_range(bucket_of(exact))
        assert low <= exact < high and hist.percentile(p) == high - 1
    assert maps.reason_counts()[Reason.NOTE_MEASURED] == len(latencies)


def test_latencies_go_to_the_phase_the_harness_selects(sink):
    prog, maps = sink
    send(prog, measured(0, NOW - 1_000))
    maps.set_phase(2)
    send(prog, measured(1, NOW - 2_000_000))
    send(prog, measured(2, NOW - 3_000_000))
    phases = maps.histograms()
    assert [h.total for h in phases] == [1, 0, 2, 0]
    assert phases[0].counts[bucket_of(1_000)] == 1
    assert maps.histogram().total == 3
    with pytest.raises(ValueError, match="phase 4 out of range"):
        maps.set_phase(4)


def test_the_real_clock_is_the_one_the_stamper_uses(sink):
    prog, maps = sink
    maps.set_clock(0)
    sent = time.monotonic_ns() - 50_000
    send(prog, measured(0, sent))
    latency = maps.histogram(0).percentile(100)
    assert 50_000 <= latency < 50_000 + 10**9


def test_loss_and_reordering_are_exact_on_drops_and_swaps(sink):
    prog, maps = sink
    flows = {
        40001: [0, 1, 2, 4, 5, 7],
        40002: [0, 2, 1, 3, 5, 4, 6],
        40003: [0, 1, 2, 3],
        40004: [0, 1, 5, 2],
    }
    for sport, seqs in flows.items():
        for seq in seqs:
            send(prog, measured(seq, NOW - 10, sport=sport))
    keys = {sport: FlowKey.of("10.1.0.1", "10.2.0.1", sport, 53, 17) for sport in flows}
    records = maps.records()
    inferred = sequence_report(records)
    got = {sport: inferred.flows[k.canonical()] for sport, k in keys.items()}
    assert {s: (f.expected, f.received, f.lost, f.reordered) for s, f in got.items()} == {
        40001: (8, 6, 2, 0), 40002: (7, 7, 0, 2), 40003: (4, 4, 0, 0), 40004: (6, 4, 2, 1)}
    assert inferred.reordered == maps.reason_counts()[Reason.NOTE_REORDERED] == 3
    sent = {keys[40001]: 9, keys[40002]: 7, keys[40003]: 6, keys[40004]: 6,
            FlowKey.of("10.1.0.1", "10.2.0.1", 40005, 53, 17): 3}
    known = sequence_report(records, sent)
    assert [known.flows[k.canonical()].lost for k in sent] == [3, 0, 2, 2, 3]
    assert known.lost == 10 and known.flows_with_loss == 4 and known.flows_reordered == 2


def test_every_packet_is_counted_once_whatever_its_header(sink):
    prog, maps = sink
    packets = [
        measured(0, NOW - 100),
        measured(1, 0),
        measured(2, NOW + 100),
        measured(3, NOW - 100, proto="tcp", options=True, vlan=True),
        raw(Ether() / IP(src="10.1.0.1", dst="10.2.0.1") / UDP(sport=7, dport=8) / bytes(40)),
        raw(Ether() / IP(src="10.1.0.1", dst="10.2.0.1") / UDP(sport=7, dport=9) / b"S6M"),
    ]
    for packet in packets:
        send(prog, packet)
    counts = maps.reason_counts()
    assert counts[Reason.CONSUMED] == verdict_total(counts) == 6
    assert counts[Reason.NOTE_MEASURED] == 4
    assert counts[Reason.NOTE_UNSTAMPED] == counts[Reason.NOTE_CLOCK_SKEW] == 1
    assert counts[Reason.NOTE_VLAN] == 1
    assert maps.histogram(0).total == 2
    tcp = FlowKey.of("10.1.0.1", "10.2.0.1", 40000, 80, 6)
    records = {k.canonical(): v for k, v in maps.records().items()}
    assert records[tcp.canonical()].next_seq == 4 and records[tcp.canonical()].measured == 1


def test_throughput_counts_packets_and_bytes_per_slot_around_the_ring(sink):
    prog, maps = sink
    start, slot = 1_000_000, 1_000
    maps.configure(start_ns=start, slot_ns=slot, clock_ns=start)
    small, large = measured(0, pad=0), measured(1, pad=500)
    plan = {0: [small, small], 1: [large], 3: [small, large, large]}

    def play(plan):
        for n, packets in plan.items():
            maps.set_clock(start + n * slot + n * 7)
            for packet in packets:
                send(prog, packet)
        return {n: (len(p), sum(len(x) for x in p)) for n, p in plan.items()}

    expected = play(plan)
    assert maps.slots() == expected
    expected.update(play({1 + SLOTS: [small]}))
    assert maps.slots() == {n: expected[n] for n in (3, 1 + SLOTS)}


def test_latency_is_also_kept_per_time_slot_around_the_ring(sink):
    prog, maps = sink
    start, slot = 1_000_000, 1_000
    maps.configure(start_ns=start, slot_ns=slot)
    plan = {0: [100, 200], 2: [5_000], 5: [70, 70, 90_000], 2 + SLOTS: [300]}
    for n, latencies in plan.items():
        now = start + n * slot + 11
        maps.set_clock(now)
        for seq, lat in enumerate(latencies):
            send(prog, measured(seq, now - lat, sport=41000 + n))
        send(prog, measured(99, 0, sport=41000 + n))
    got = maps.slot_histograms()
    assert sorted(got) == [5, 2 + SLOTS]
    assert got[5] == Histogram.of(plan[5]) and got[2 + SLOTS] == Histogram.of(plan[2 + SLOTS])
    assert maps.histogram(0) == Histogram.of(x for lats in plan.values() for x in lats)
