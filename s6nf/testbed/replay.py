"""Replaying a pcap from the ``gen`` host with tcpreplay, and waiting for it to drain."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from s6nf.netns import command_in
from s6nf.testbed.workload import Pace

_PCAP_HEADER_LEN = 24
_RECORD = struct.Struct("<IIII")


class ReplayError(RuntimeError):
    """tcpreplay failed or reported fewer packets than it was given."""


@dataclass(frozen=True)
class ReplayResult:
    sent: int
    failed: int
    seconds: float
    last_part_at_s: float = 0.0
    """When the last part started, seconds after the replay did (0 for one part)."""
    last_part_sent: int | None = None
    """Packets of the last part (None for one part: all of them)."""


def replay(namespace: str, ifname: str, pcap: Path, pps: int | None = None,
           loops: int = 1) -> ReplayResult:
    """Send ``pcap`` out of ``ifname`` in ``namespace``; ``pps`` None means top speed."""
    tcpreplay = shutil.which("tcpreplay")
    if tcpreplay is None:
        raise ReplayError("tcpreplay not found: run 'make setup'")
    rate = ["--topspeed"] if pps is None else [f"--pps={pps}"]
    cmd = [tcpreplay, "-q", f"--intf1={ifname}", f"--loop={loops}", *rate, str(pcap)]
    start = time.monotonic()
    proc = subprocess.run(command_in(namespace, cmd), capture_output=True, text=True,
                          check=False, timeout=600)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        raise ReplayError(f"tcpreplay exited {proc.returncode}: {proc.stderr.strip()}")
    sent = _field(proc.stdout, r"Successful packets:\s+(\d+)")
    failed = _field(proc.stdout, r"Failed packets:\s+(\d+)")
    return ReplayResult(sent, failed, elapsed)


@dataclass(frozen=True)
class PacedPart:
    """A pcap to replay at one rate, a part of a trace whose rate changes."""

    pcap: Path
    rate_pps: float | None
    """None: top speed."""


def paced_parts(pcap: Path, pace: Sequence[Pace], out_dir: Path) -> list[PacedPart]:
    """``pcap`` as one part per run of ``pace`` (``Workload.pace``), written to ``out_dir``;
    without a change of rate, the pcap itself.

    tcpreplay keeps an exact rate only with ``--pps`` (following the pcap's timestamps it falls
    behind at tens of thousands of packets/s), and ``--pps`` is one rate per invocation, so a
    trace whose rate rises (a ramp) is replayed as parts, one after the other
    (``replay_parts``). Cut before the replay, so cutting costs the replay no time.
    """
    if not pace:
        raise ReplayError("nothing to replay: the pace has no runs")
    if len(pace) == 1:
        return [PacedPart(pcap, pace[0].rate_pps)]
    parts = []
    with pcap.open("rb") as src:
        header = src.read(_PCAP_HEADER_LEN)
        for n, run in enumerate(pace):
            part = out_dir / f"{pcap.stem}.part{n:03d}.pcap"
            with part.open("wb") as dst:
                dst.write(header)
                if n == len(pace) - 1:
                    shutil.copyfileobj(src, dst)
                else:
                    _copy_records(src, dst, run.packets, pcap)
            parts.append(PacedPart(part, run.rate_pps))
    return parts


def _copy_records(src: BinaryIO, dst: BinaryIO, count: int, pcap: Path) -> None:
    for _ in range(count):
        record = src.read(_RECORD.size)
        if len(record) < _RECORD.size:
            raise ReplayError(f"{pcap} has fewer packets than its pace says")
        dst.write(record + src.read(_RECORD.unpack(record)[2]))


def replay_parts(namespace: str, ifname: str, parts: Sequence[PacedPart]) -> ReplayResult:
    """Send each part at its rate, one after the other (a few ms without traffic between two
    parts: a process start)."""
    sent = failed = last_sent = 0
    start = last = time.monotonic()
    for part in parts:
        last = time.monotonic()
        rate = None if part.rate_pps is None else max(1, round(part.rate_pps))
        result = replay(namespace, ifname, part.pcap, rate)
        sent, failed, last_sent = sent + result.sent, failed + result.failed, result.sent
    return ReplayResult(sent, failed, time.monotonic() - start, last - start, last_sent)


def _field(text: str, pattern: str) -> int:
    match = re.search(pattern, text)
    if not match:
        raise ReplayError(f"cannot read tcpreplay's report ({pattern!r}) from: {text!r}")
    return int(match.group(1))


def wait_until_stable(read: Callable[[], int], target: int, timeout: float = 10.0,
                      poll: float = 0.02) -> int:
    """Poll a counter until it reaches ``target`` or stops moving; return its last value.

    Packets sent into a veth are handled asynchronously by the receiving side's NAPI; this is
    how a caller knows they have all been handled (or that some never will be).
    """
    deadline = time.monotonic() + timeout
    last, unchanged_since = read(), time.monotonic()
    while time.monotonic() < deadline:
        if last >= target:
            return last
        time.sleep(poll)
        value = read()
        if value != last:
            last, unchanged_since = value, time.monotonic()
        elif time.monotonic() - unchanged_since > 1.0:
            return last
    return last
