"""Replaying a pcap from the ``gen`` host with tcpreplay, and waiting for it to drain."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from s6nf.netns import command_in


class ReplayError(RuntimeError):
    """tcpreplay failed or reported fewer packets than it was given."""


@dataclass(frozen=True)
class ReplayResult:
    sent: int
    failed: int
    seconds: float


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
