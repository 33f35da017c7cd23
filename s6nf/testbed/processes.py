"""Stopping the child processes a testbed run started."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from typing import Any


def stop_all(procs: Iterable[subprocess.Popen[Any]], grace_s: float = 10.0) -> None:
    """SIGTERM every process, then wait for each; one that outlives ``grace_s`` is killed."""
    procs = list(procs)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
