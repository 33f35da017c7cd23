"""Realistic, deterministic workloads as pcap: heavy-tailed flows at a given concurrency and rate.

The model (docs/measurement.md): ``concurrency`` flows are active at any time. Packets leave
at an aggregate rate of ``rate_pps``, the gaps between consecutive packets drawn from ``gap``
(mean 1, scaled by 1 / rate); each packet belongs to an active flow chosen uniformly at random
and is that flow's next packet. A flow that has sent all its packets is replaced by a new one
until ``flows`` flows have started, so flow arrivals follow completions. Flow sizes (packets,
handshake and teardown included) come from ``flow_size``. A TCP flow is a three-way handshake,
its data packets from client to server and a FIN/FIN/ACK teardown; a UDP flow is its data
packets. Every packet carries the measurement header (``s6nf.measure.header``) with its flow's
next sequence number and an unstamped send time.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path

from s6nf.keys import IPPROTO_TCP, IPPROTO_UDP, FlowKey
from s6nf.measure.header import HEADER_LEN, MeasHeader
from s6nf.testbed.frames import FrameTemplate, PcapFile

KINDS = ("pareto", "lognormal", "exponential", "constant")
RAMP_STEPS = 16
"""Steps of the packet rate's rise over a ramp (each a run of ``Workload.pace``)."""
TCP_CONTROL_PACKETS = 6
FIN, SYN, PSH, ACK = 0x01, 0x02, 0x08, 0x10


@dataclass(frozen=True)
class Distribution:
    """A positive random variable given by its mean and, for pareto/lognormal, a shape."""

    kind: str
    """pareto, lognormal, exponential or constant."""
    mean: float
    shape: float = 1.5
    """Pareto: the tail index alpha (> 1, smaller is heavier); lognormal: sigma."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown distribution {self.kind!r} (known: {', '.join(KINDS)})")
        if not self.mean > 0:
            raise ValueError(f"a distribution's mean must be positive, got {self.mean}")
        if self.kind == "pareto" and not self.shape > 1:
            raise ValueError(f"a Pareto tail index must be > 1 for a finite mean, got {self.shape}")
        if self.kind == "lognormal" and not self.shape > 0:
            raise ValueError(f"a lognormal sigma must be positive, got {self.shape}")

    def sample(self, rng: random.Random) -> float:
        if self.kind == "pareto":
            return self.mean * (self.shape - 1) / self.shape * rng.paretovariate(self.shape)
        if self.kind == "lognormal":
            mu = math.log(self.mean) - self.shape ** 2 / 2
            return rng.lognormvariate(mu, self.shape)
        if self.kind == "exponential":
            return rng.expovariate(1 / self.mean)
        return self.mean


def parse_distribution(text: str) -> Distribution:
    """``KIND:MEAN[:SHAPE]`` (e.g. ``pareto:20:1.2``) as given on the command line."""
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise ValueError(f"a distribution is KIND:MEAN[:SHAPE], got {text!r}")
    try:
        numbers = [float(p) for p in parts[1:]]
    except ValueError as exc:
        raise ValueError(f"a distribution's mean and shape are numbers, got {text!r}") from exc
    return Distribution(parts[0], *numbers)


@dataclass(frozen=True)
class WorkloadSpec:
    """What to generate; every default is documented in docs/measurement.md."""

    flows: int = 1000
    """Flows in the whole trace."""
    concurrency: int = 100
    """Flows active at once (fewer only while the last flows drain)."""
    rate_pps: float = 10_000.0
    """Aggregate packet rate the pcap's timestamps describe."""
    flow_size: Distribution = field(default_factory=lambda: Distribution("pareto", 20.0, 1.2))
    """Packets per flow, handshake and teardown included (rounded, at least 1; TCP at least 6)."""
    gap: Distribution = field(default_factory=lambda: Distribution("pareto", 1.0, 1.5))
    """Gaps between consecutive packets, in units of the mean gap 1 / rate_pps."""
    max_flow_packets: int = 100_000
    """Cap on one flow's size, so one draw from the tail cannot dwarf the trace."""
    tcp_fraction: float = 0.5
    payload: int = 64
    """L4 payload bytes of a data packet (measurement header + zeros); control packets carry
    the header only."""
    seed: int = 1
    dst_mac: str = "ff:ff:ff:ff:ff:ff"
    ramp_s: float = 0.0
    """The first ``concurrency`` flows start evenly over this long instead of all at time 0
    (a trace that begins with a burst of new flows measures the burst, not the NF), and the
    packet rate rises with them in ``RAMP_STEPS`` steps, so each open flow sends at about
    ``rate_pps / concurrency`` throughout (``Workload.pace`` says how to replay it)."""
    one_way: bool = False
    """Client-to-server packets only (SYN, data, FIN for TCP): for NFs whose replies the
    testbed makes itself (a NAT's replies go to an address only the NAT chooses)."""

    def __post_init__(self) -> None:
        if self.flows < 1 or self.concurrency < 1:
            raise ValueError(f"need at least one flow and concurrency 1, got flows={self.flows}, "
                             f"concurrency={self.concurrency}")
        if self.flows > 1 << 24:
            raise ValueError(f"at most 2**24 flows, got {self.flows}")
        if not self.rate_pps > 0:
            raise ValueError(f"rate_pps must be positive, got {self.rate_pps}")
        if not 0 <= self.tcp_fraction <= 1:
            raise ValueError(f"tcp_fraction must be in [0, 1], got {self.tcp_fraction}")
        if not HEADER_LEN <= self.payload <= 1460:
            raise ValueError(f"payload must be in [{HEADER_LEN}, 1460] bytes, got {self.payload}")
        if self.ramp_s < 0:
            raise ValueError(f"ramp_s must be >= 0, got {self.ramp_s}")
        if self.max_flow_packets < TCP_CONTROL_PACKETS:
            raise ValueError(f"max_flow_packets must be at least {TCP_CONTROL_PACKETS}, "
                             f"got {self.max_flow_packets}")


@dataclass(frozen=True)
class Pace:
    """A run of consecutive packets of a trace to replay at one rate."""

    packets: int
    rate_pps: float


@dataclass(frozen=True)
class Workload:
    path: Path
    flows: dict[FlowKey, int]
    """Each flow (client to server direction) and its packets in the pcap, both directions."""
    duration_s: float
    """Time from the first packet to the last, as the pcap's timestamps say."""
    pace: tuple[Pace, ...] = ()
    """The pcap's packets in order as runs of one rate each: one run at ``rate_pps`` without
    a ramp; with one, a run per ramp step at its rate, then the rest at ``rate_pps``."""

    @property
    def packets(self) -> int:
        return sum(self.flows.values())


@dataclass
class _Flow:
    key: FlowKey
    size: int
    forward: FrameTemplate
    backward: FrameTemplate
    sent: int = 0
    seq: list[int] = field(default_factory=lambda: [0, 0])
    """Next TCP sequence number of the client and of the server."""
    ramp_s: float = 0.0
    """The first ``concurrency`` flows start evenly over this long instead of all at time 0
    (a trace that begins with a burst of new flows measures the burst, not the NF)."""
    one_way: bool = False

    def frame(self, payload_len: int) -> bytes:
        header = MeasHeader(self.sent).pack()
        n = self.sent
        self.sent += 1
        if not self.forward.tcp:
            return self.forward.frame(header, payload_len - HEADER_LEN, n)
        if self.one_way:
            return self._client_only(header, payload_len, n)
        data = self.size - TCP_CONTROL_PACKETS
        step: tuple[int, int, int]
        if n < 3:
            step = ((0, SYN, 0), (1, SYN | ACK, 1), (0, ACK, 1))[n]
        elif n < 3 + data:
            step = (0, PSH | ACK, 0)
        else:
            step = ((0, FIN | ACK, 1), (1, FIN | ACK, 1), (0, ACK, 1))[n - 3 - data]
        side, flags, _ = step
        pad = payload_len - HEADER_LEN if flags & PSH else 0
        seq, ack = self.seq[side], self.seq[1 - side]
        template = self.backward if side else self.forward
        out = template.frame(header, pad, n, seq, ack if flags & ACK else 0, flags)
        self.seq[side] += HEADER_LEN + pad + (1 if flags & (SYN | FIN) else 0)
        return out


    def _client_only(self, header: bytes, payload_len: int, n: int) -> bytes:
        flags = SYN if n == 0 else (FIN | ACK if n == self.size - 1 else PSH | ACK)
        pad = payload_len - HEADER_LEN if flags & PSH else 0
        out = self.forward.frame(header, pad, n, self.seq[0], self.seq[1] if n else 0, flags)
        self.seq[0] += HEADER_LEN + pad + (1 if flags & (SYN | FIN) else 0)
        return out


def generate(path: Path, spec: WorkloadSpec) -> Workload:
    """Write the workload ``spec`` describes to ``path``; the same spec gives the same bytes."""
    rng = random.Random(spec.seed)
    seen: set[bytes] = set()
    flows: dict[FlowKey, int] = {}
    active: list[_Flow] = []
    started = 0
    now_us = 0.0
    ramp_us = spec.ramp_s * 1e6
    runs = [0] * (RAMP_STEPS + 1 if ramp_us else 1)

    def step_at(t_us: float) -> int:
        return min(int(t_us * RAMP_STEPS / ramp_us), RAMP_STEPS) if ramp_us else 0

    def rate_of(step: int) -> float:
        return spec.rate_pps * (min(step + 1, RAMP_STEPS) / RAMP_STEPS if ramp_us else 1)

    def start() -> _Flow:
        nonlocal started
        started += 1
        key = _new_key(rng, seen, spec.tcp_fraction)
        size = min(max(1, round(spec.flow_size.sample(rng))), spec.max_flow_packets)
        if key.proto == IPPROTO_TCP:
            size = max(size, TCP_CONTROL_PACKETS)
        flows[key] = size
        return _Flow(key, size, FrameTemplate(key, spec.dst_mac),
                     FrameTemplate(key.reversed(), spec.dst_mac),
                     seq=[rng.getrandbits(32), rng.getrandbits(32)], one_way=spec.one_way)

    with path.open("wb") as out:
        pcap = PcapFile(out)
        initial = min(spec.concurrency, spec.flows)
        first = True
        while True:
            due = initial if ramp_us == 0 else min(initial, 1 + int(now_us * initial / ramp_us))
            while len(active) < due and started < spec.flows:
                active.append(start())
            if not active:
                if started >= spec.flows:
                    break
                now_us = max(now_us, len(flows) * ramp_us / initial)
                continue
            if not first:
                now_us += spec.gap.sample(rng) * 1e6 / rate_of(step_at(now_us))
            first = False
            index = rng.randrange(len(active))
            flow = active[index]
            pcap.write(int(now_us), flow.frame(spec.payload))
            runs[step_at(now_us)] += 1
            if flow.sent == flow.size:
                active[index] = active[-1]
                active.pop()
                if started < spec.flows and ramp_us == 0:
                    active.append(start())
    pace = tuple(Pace(n, rate_of(step)) for step, n in enumerate(runs) if n)
    return Workload(path, flows, now_us / 1e6, pace)


def _new_key(rng: random.Random, seen: set[bytes], tcp_fraction: float) -> FlowKey:
    """A client → server key whose canonical form no earlier flow has."""
    while True:
        proto = IPPROTO_TCP if rng.random() < tcp_fraction else IPPROTO_UDP
        key = FlowKey(0x0A010000 | rng.getrandbits(16), 0x0A020000 | rng.getrandbits(16),
                      rng.randint(1024, 65535), rng.choice([80, 443, 53, 8080, 5001]), proto)
        if key.canonical() not in seen:
            seen.add(key.canonical())
            return key
