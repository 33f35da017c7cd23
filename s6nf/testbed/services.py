"""The control plane of an embedded testbed with a management network, each component in
its host's namespace: the P4Runtime server on ``sw``, the controller on the controller host,
one agent per instance on ``nf<i>``. Every address and port comes from the configuration
(``controller run --config``, ``agent run --config --host``, as on servers), so they talk
exactly as on separate hosts (docs/real-servers.md), never over loopback.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from s6nf import netns
from s6nf.testbed.processes import stop_all
from s6nf.testbed.testbed import Testbed, TestbedError
from s6nf.testbed.topology import instance_host
from s6nf.tls.components import components
from s6nf.tls.pki import init_pki

READY_TIMEOUT_S = 60.0


@contextmanager
def management_services(testbed: Testbed, state_file: Path,
                        tls_dir: Path | None = None) -> Iterator[str]:
    """Start them (each server once it says it listens); yields the controller's address.
    With ``tls_dir``, a development CA and every component's certificate are made there
    first and every channel uses mutual TLS (clients then need ``--tls-dir`` too)."""
    state = testbed.state
    if state is None or not state.management:
        raise TestbedError(f"testbed {testbed.name!r} has no management network: "
                           "bring it up with --management")
    config = testbed.config
    target = config.target
    if config.source is None:
        raise TestbedError("the services read the testbed's configuration file; this "
                           "configuration was not read from one")
    config_args = ["--config", str(config.source)]
    if tls_dir is not None:
        init_pki(tls_dir, components(config))
        config_args += ["--tls-dir", str(tls_dir)]
    procs: list[subprocess.Popen[str]] = []
    try:
        procs.append(_start(testbed.namespace("sw"), [
            "p4", "server", "--name", testbed.name, "--address", target.address,
            "--device-id", str(target.device_id), *config_args], "P4Runtime server"))
        procs.append(_start(testbed.namespace(config.controller.host), [
            "controller", "run", *config_args, "--state-file", str(state_file)],
            "controller on port"))
        for i in testbed.topology().instances:
            procs.append(_start(testbed.namespace(instance_host(i)), [
                "agent", "run", *config_args, "--host", instance_host(i)], None))
        yield config.controller_address
    finally:
        stop_all(procs)


def _start(namespace: str, args: list[str], ready: str | None) -> subprocess.Popen[str]:
    """``s6nf ARGS`` in ``namespace``; with ``ready``, wait until it prints that line."""
    argv = netns.command_in(namespace, [sys.executable, "-m", "s6nf.cli", *args])
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE if ready else None, text=True)
    if ready is None:
        return proc
    assert proc.stdout is not None
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        remaining = deadline - time.monotonic()
        readable, _, _ = select.select([proc.stdout], [], [], max(remaining, 0))
        line = proc.stdout.readline() if readable else ""
        if ready in line:
            return proc
        if not readable or (not line and proc.poll() is not None):
            proc.kill()
            proc.wait()
            raise TestbedError(f"'s6nf {' '.join(args)}' in {namespace} did not get ready "
                               f"(exit code {proc.returncode}); run it by hand to see why")


def run_s6nf(testbed: Testbed, host: str, args: list[str],
             timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """``s6nf ARGS`` in ``host``'s namespace (e.g. ``scale`` from the controller's host)."""
    argv = netns.command_in(testbed.namespace(host), [sys.executable, "-m", "s6nf.cli", *args])
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def wait_registered(testbed: Testbed, controller: str, count: int, timeout: float = 30.0,
                    tls_dir: Path | None = None) -> list[dict[str, Any]]:
    """Ask the controller (from its host) until ``count`` agents are members; returns them."""
    deadline = time.monotonic() + timeout
    tls = [] if tls_dir is None else ["--tls-dir", str(tls_dir)]
    while True:
        done = run_s6nf(testbed, testbed.config.controller.host,
                        ["status", "--json", "--controller", controller, *tls])
        members: list[dict[str, Any]] = (json.loads(done.stdout)["members"]
                                         if done.returncode == 0 else [])
        if len(members) >= count:
            return members
        if time.monotonic() > deadline:
            raise TestbedError(f"only {len(members)} of {count} agents registered with "
                               f"{controller} in {timeout:.0f} s: {done.stderr.strip()}")
        time.sleep(0.1)
