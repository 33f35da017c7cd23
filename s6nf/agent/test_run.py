"""BPF_PROG_TEST_RUN: running a loaded XDP or TC program on a packet without any interface."""

from __future__ import annotations

import ctypes as ct
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from s6nf.agent import libbpf

XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT = range(5)
TC_ACT_OK, TC_ACT_SHOT = 0, 2
_HEADROOM = 256
ETH_HLEN = 14


@dataclass(frozen=True)
class RunResult:
    action: int
    """The XDP action or TC verdict the program returned."""
    packet: bytes
    """The packet as the program left it."""
    duration_ns: int
    """Mean time per run, as the kernel measured it."""


def run_xdp(prog_fd: int, packet: bytes, repeat: int = 1) -> RunResult:
    """Run an XDP program ``repeat`` times on ``packet`` (maps see every run)."""
    return _run(prog_fd, packet, repeat, "XDP")


def run_tc(prog_fd: int, packet: bytes, repeat: int = 1) -> RunResult:
    """Run a SCHED_CLS program ``repeat`` times on ``packet`` as an skb (maps see every run)."""
    return _run(prog_fd, packet, repeat, "TC")


def _run(prog_fd: int, packet: bytes, repeat: int, kind: str) -> RunResult:
    if len(packet) < ETH_HLEN:
        raise ValueError(f"{kind} test runs need at least an Ethernet header ({ETH_HLEN} "
                         f"bytes), got {len(packet)}")
    data_in = ct.create_string_buffer(packet, len(packet))
    data_out = ct.create_string_buffer(len(packet) + _HEADROOM)
    opts = libbpf.BpfTestRunOpts(
        sz=ct.sizeof(libbpf.BpfTestRunOpts),
        data_in=ct.cast(data_in, ct.c_void_p),
        data_out=ct.cast(data_out, ct.c_void_p),
        data_size_in=len(packet),
        data_size_out=len(data_out),
        repeat=repeat,
    )
    libbpf.check(libbpf.lib().bpf_prog_test_run_opts(prog_fd, ct.byref(opts)),
                 f"BPF_PROG_TEST_RUN on prog fd {prog_fd}")
    return RunResult(opts.retval, data_out.raw[: opts.data_size_out], opts.duration)


def interleaved_median(cases: Mapping[str, Callable[[int], RunResult]], repeat: int,
                       rounds: int) -> dict[str, float]:
    """Median ns per run of each case over ``rounds``, the cases taking turns within every
    round so a noisy neighbour hits them alike (one warm-up run of 1,000 first)."""
    samples: dict[str, list[int]] = {name: [] for name in cases}
    for run in cases.values():
        run(1000)
    for _ in range(rounds):
        for name, run in cases.items():
            samples[name].append(run(repeat).duration_ns)
    return {name: statistics.median(s) for name, s in samples.items()}
