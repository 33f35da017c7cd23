import random
import struct
from collections import defaultdict

import pytest
from scapy.compat import raw
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import rdpcap

from s6nf.keys import FlowKey
from s6nf.measure.header import HEADER_LEN, MAGIC, MeasHeader
from s6nf.testbed.frames import FrameTemplate
from s6nf.testbed.workload import Distribution, WorkloadSpec, generate


def read_frames(path):
    """(time_us, frame) of a classic pcap, without scapy (fast enough for 100k packets)."""
    data = path.read_bytes()
    assert struct.unpack_from("<I", data)[0] == 0xA1B2C3D4
    out, at = [], 24
    while at < len(data):
        sec, usec, incl, orig = struct.unpack_from("<IIII", data, at)
        assert incl == orig
        out.append((sec * 1_000_000 + usec, data[at + 16:at + 16 + incl]))
        at += 16 + incl
    return out


def flow_of(frame):
    pkt = Ether(frame)
    l4 = pkt[TCP] if TCP in pkt else pkt[UDP]
    return FlowKey.of(pkt[IP].src, pkt[IP].dst, l4.sport, l4.dport, pkt[IP].proto)


SMALL = WorkloadSpec(flows=60, concurrency=8, seed=5, payload=100)


def test_the_same_seed_writes_the_same_bytes_and_another_seed_does_not(tmp_path):
    a = generate(tmp_path / "a.pcap", SMALL)
    b = generate(tmp_path / "b.pcap", SMALL)
    c = generate(tmp_path / "c.pcap", WorkloadSpec(flows=60, concurrency=8, seed=6, payload=100))
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.path.read_bytes() != c.path.read_bytes()
    assert a.flows == b.flows


def test_every_checksum_is_what_scapy_computes(tmp_path):
    workload = generate(tmp_path / "w.pcap", SMALL)
    packets = rdpcap(str(workload.path))
    assert len(packets) == workload.packets
    for pkt in packets:
        rebuilt = pkt.copy()
        del rebuilt[IP].chksum
        l4 = rebuilt[TCP] if TCP in rebuilt else rebuilt[UDP]
        del l4.chksum
        if UDP in rebuilt:
            del rebuilt[UDP].len
        assert raw(Ether(raw(rebuilt))) == raw(pkt)


def test_udp_checksum_zero_is_sent_as_all_ones():
    key = FlowKey.of("10.1.0.1", "10.2.0.1", 1, 2, 17)
    template = FrameTemplate(key, "02:00:00:00:00:01")
    for seq in range(3000):
        frame = template.frame(MeasHeader(seq).pack(), 0, seq)
        assert frame[40:42] != b"\0\0"
        rebuilt = Ether(frame)
        del rebuilt[UDP].chksum
        assert raw(Ether(raw(rebuilt))) == frame


def test_each_flow_numbers_its_packets_in_order_and_tcp_flows_open_and_close(tmp_path):
    workload = generate(tmp_path / "w.pcap", SMALL)
    seqs: dict[bytes, list[int]] = defaultdict(list)
    flags: dict[bytes, list[str]] = defaultdict(list)
    times = []
    for pkt in rdpcap(str(workload.path)):
        times.append(pkt.time)
        l4 = pkt[TCP] if TCP in pkt else pkt[UDP]
        header = MeasHeader.unpack(bytes(l4.payload))
        assert header is not None and header.send_ns == 0
        key = flow_of(raw(pkt)).canonical()
        seqs[key].append(header.seq)
        if TCP in pkt:
            flags[key].append(str(pkt[TCP].flags))
    assert times == sorted(times)
    assert {k.canonical(): n for k, n in workload.flows.items()} == {
        k: len(v) for k, v in seqs.items()}
    assert all(v == list(range(len(v))) for v in seqs.values())
    tcp = [k for k in workload.flows if k.proto == 6]
    assert tcp and len(tcp) < len(workload.flows)
    for key in tcp:
        f = flags[key.canonical()]
        assert f[:3] == ["S", "SA", "A"] and f[-3:] == ["FA", "FA", "A"]
        assert set(f[3:-3]) <= {"PA"}


def test_data_packets_carry_the_payload_and_control_packets_the_header_only(tmp_path):
    workload = generate(tmp_path / "w.pcap", SMALL)
    for pkt in rdpcap(str(workload.path)):
        payload = bytes((pkt[TCP] if TCP in pkt else pkt[UDP]).payload)
        data = UDP in pkt or pkt[TCP].flags == "PA"
        assert len(payload) == (100 if data else HEADER_LEN)
        assert payload[:4] == MAGIC.to_bytes(4, "big") and not any(payload[HEADER_LEN:])


def test_no_more_flows_than_the_concurrency_are_open_at_once(tmp_path):
    workload = generate(tmp_path / "w.pcap", SMALL)
    remaining = {k.canonical(): n for k, n in workload.flows.items()}
    open_now: set[bytes] = set()
    peak = 0
    for _, frame in read_frames(workload.path):
        key = flow_of(frame).canonical()
        open_now.add(key)
        peak = max(peak, len(open_now))
        remaining[key] -= 1
        if remaining[key] == 0:
            open_now.remove(key)
    assert peak == SMALL.concurrency
    assert not open_now and not any(remaining.values())


def test_a_hundred_thousand_packets_with_the_requested_rate(tmp_path):
    spec = WorkloadSpec(flows=8000, concurrency=500, rate_pps=50_000, seed=9,
                        gap=Distribution("exponential", 1.0))
    workload = generate(tmp_path / "big.pcap", spec)
    frames = read_frames(workload.path)
    assert len(frames) == workload.packets > 100_000
    assert len(workload.flows) == 8000
    rate = (len(frames) - 1) / workload.duration_s
    assert rate == pytest.approx(50_000, rel=0.05)
    sizes = sorted(workload.flows.values())
    assert sizes[-1] > 50 * sizes[len(sizes) // 2]


@pytest.mark.parametrize("dist", [Distribution("lognormal", 10.0, 1.0),
                                  Distribution("exponential", 10.0),
                                  Distribution("constant", 10.0)])
def test_distributions_have_the_mean_they_are_given(dist):
    rng = random.Random(1)
    samples = [dist.sample(rng) for _ in range(200_000)]
    assert sum(samples) / len(samples) == pytest.approx(10.0, rel=0.03)


def test_pareto_has_its_scale_and_median():
    dist = Distribution("pareto", 10.0, 1.2)
    rng = random.Random(2)
    samples = sorted(dist.sample(rng) for _ in range(100_001))
    xm = 10.0 * 0.2 / 1.2
    assert samples[0] >= xm
    assert samples[50_000] == pytest.approx(xm * 2 ** (1 / 1.2), rel=0.03)


@pytest.mark.parametrize("kwargs, match", [
    ({"flows": 0}, "at least one flow"),
    ({"payload": 8}, "payload"),
    ({"rate_pps": 0}, "rate_pps"),
    ({"tcp_fraction": 2}, "tcp_fraction"),
])
def test_bad_specs_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        WorkloadSpec(**kwargs)


@pytest.mark.parametrize("args, match", [(("zipf", 1.0), "zipf"), (("pareto", 10, 1.0), "tail"),
                                         (("lognormal", -1.0), "mean")])
def test_bad_distributions_are_refused(args, match):
    with pytest.raises(ValueError, match=match):
        Distribution(*args)


def flow_spans(path):
    spans: dict[bytes, list[float]] = {}
    for pkt in rdpcap(str(path)):
        ip, l4 = pkt[IP], pkt[IP].payload
        key = FlowKey.of(ip.src, ip.dst, l4.sport, l4.dport, ip.proto).canonical()
        spans.setdefault(key, [float(pkt.time), 0.0])[1] = float(pkt.time)
    return list(spans.values())


def open_at(spans, t):
    return sum(1 for first, last in spans if first <= t <= last)


def test_a_ramp_opens_flows_gradually_and_keeps_every_flow(tmp_path):
    spec = WorkloadSpec(flows=400, concurrency=200, rate_pps=20_000, ramp_s=1.0, seed=4)
    ramped = generate(tmp_path / "ramp.pcap", spec)
    burst = generate(tmp_path / "burst.pcap", WorkloadSpec(flows=400, concurrency=200,
                                                            rate_pps=20_000, seed=4))
    assert len(ramped.flows) == len(burst.flows) == 400
    spans = flow_spans(tmp_path / "ramp.pcap")
    assert len(spans) == 400
    for t in (0.0, 0.05, 0.2, 0.5, 0.9):
        assert open_at(spans, t) <= 1 + int(t * 200)
    assert open_at(flow_spans(tmp_path / "burst.pcap"), 0.05) > 100


def test_one_way_flows_carry_client_packets_only_numbered_in_order(tmp_path):
    w = generate(tmp_path / "w.pcap", WorkloadSpec(flows=50, concurrency=10, one_way=True,
                                                   tcp_fraction=1.0, seed=2))
    seqs: dict[FlowKey, list[int]] = defaultdict(list)
    for pkt in rdpcap(str(tmp_path / "w.pcap")):
        ip, tcp = pkt[IP], pkt[TCP]
        flow = FlowKey.of(ip.src, ip.dst, tcp.sport, tcp.dport, 6)
        assert flow in w.flows, "a packet from the server side"
        header = MeasHeader.unpack(bytes(tcp.payload)[:HEADER_LEN])
        assert header is not None
        seqs[flow].append(header.seq)
    assert {f: len(s) for f, s in seqs.items()} == w.flows
    assert all(s == list(range(len(s))) for s in seqs.values())


def test_a_ramp_raises_the_rate_with_the_open_flows_in_steps(tmp_path):
    from s6nf.testbed.workload import RAMP_STEPS

    flat = generate(tmp_path / "flat.pcap", WorkloadSpec(flows=300, rate_pps=5000, seed=3))
    assert [(p.packets, p.rate_pps) for p in flat.pace] == [(flat.packets, 5000)]
    w = generate(tmp_path / "ramp.pcap", WorkloadSpec(flows=5000, concurrency=400,
                                                      rate_pps=80_000, ramp_s=1.0, seed=3))
    assert sum(p.packets for p in w.pace) == w.packets
    rates = [p.rate_pps for p in w.pace]
    assert rates == sorted(rates) and rates[-1] == 80_000 and len(rates) == RAMP_STEPS + 1
    assert rates[0] == pytest.approx(80_000 / RAMP_STEPS)
    times = [t for t, _ in read_frames(tmp_path / "ramp.pcap")]
    in_first_step = sum(1 for t in times if t < 1e6 / RAMP_STEPS)
    assert in_first_step == w.pace[0].packets
    assert in_first_step == pytest.approx(80_000 / RAMP_STEPS ** 2, rel=0.3)


def test_paced_parts_cut_the_trace_in_order_without_losing_a_packet(tmp_path):
    from s6nf.testbed.replay import paced_parts

    w = generate(tmp_path / "w.pcap", WorkloadSpec(flows=500, concurrency=200, rate_pps=4000,
                                                   ramp_s=0.5, seed=5))
    (tmp_path / "parts").mkdir()
    parts = paced_parts(w.path, w.pace, tmp_path / "parts")
    assert [p.rate_pps for p in parts] == [p.rate_pps for p in w.pace]
    frames = [read_frames(p.pcap) for p in parts]
    assert [len(f) for f in frames] == [p.packets for p in w.pace]
    assert [f for part in frames for f in part] == read_frames(w.path)
    assert paced_parts(w.path, w.pace[-1:], tmp_path)[0].pcap == w.path
