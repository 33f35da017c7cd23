"""The control plane of an embedded testbed, each component in its host's namespace: the
P4Runtime server on ``sw``, the controller on the controller host, one agent per instance on
``nf<i>``. Every address and port comes from the configuration (``controller run --config``,
``agent run --config --host``, as on servers), so they talk exactly as on separate hosts
(docs/real-servers.md), over the management network, never over loopback.

This is the one way the testbed's tests, ``s6nf bench``, ``s6nf demo`` and the control-plane
bench start a control plane. Their calls to it go through a console process on the
controller host (``s6nf.testbed.console``).
"""

from __future__ import annotations

import select
import signal
import subprocess
import sys
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from s6nf import netns
from s6nf.testbed.console import Console
from s6nf.testbed.processes import stop_all
from s6nf.testbed.sockets import TcpSocket, tcp_sockets
from s6nf.testbed.testbed import Testbed, TestbedError
from s6nf.testbed.topology import instance_host
from s6nf.tls.components import components
from s6nf.tls.pki import init_pki

READY_TIMEOUT_S = 60.0
ROLES = ("controller", "agents")
"""What ``management_services`` starts besides the target (the P4Runtime server)."""
CONTROLLER = "s6nf.Controller"
AGENT = "s6nf.Agent"


class ControlPlane:
    """The running processes, and the calls a test or the harness makes to them."""

    def __init__(self, testbed: Testbed, state_file: Path, config_args: list[str],
                 console: Console, metrics_port: int | None,
                 agent_metrics_port: int | None = None) -> None:
        self.testbed = testbed
        self.config = testbed.config
        self.address = self.config.controller_address
        """The controller's API (``ip:port`` on the controller host's management address)."""
        self.console = console
        self.metrics_port = metrics_port
        self.agent_metrics_port = agent_metrics_port
        """Each agent's Prometheus endpoint's port, on its management address (None: none)."""
        self._state_file = state_file
        self._config_args = config_args
        self._procs: dict[str, subprocess.Popen[str]] = {}
        self._agent_args: list[str] = []
        self._nf_options: Mapping[str, str] | None = None
        self.controller_extra: Sequence[str] = ()
        """More ``controller run`` options (e.g. ``--dead-after``)."""
        self.agent_extra: Sequence[str] = ()
        """More ``agent run`` options (e.g. ``--replicate-interval``)."""

    # -- processes --------------------------------------------------------------------------

    def start(self, nf_options: Mapping[str, str] | None, mode: str, schema: str,
              roles: Collection[str] = ROLES) -> None:
        target = self.config.target
        self._procs["target"] = _start(self.testbed.namespace(self._switch), [
            "p4", "server", "--name", self.testbed.name, "--address", target.address,
            "--device-id", str(target.device_id), *self._config_args], "P4Runtime server")
        if "controller" in roles:
            self.start_controller()
        self._agent_args = ["--mode", mode]
        if schema:
            self._agent_args += ["--schema", schema]
        if self.agent_metrics_port is not None:
            self._agent_args += ["--metrics-port", str(self.agent_metrics_port)]
        self._nf_options = nf_options
        for i in self.testbed.topology().instances if "agents" in roles else []:
            self.start_agent(i)

    def start_agent(self, instance: int) -> None:
        """Instance ``instance``'s agent, with the settings ``start`` was given (a restart in
        place after ``kill_agent``)."""
        host = instance_host(instance)
        args = ["agent", "run", *self._config_args, "--host", host,
                "--pin-dir", str(self.testbed.pin_dir(host)), *self._agent_args,
                *self.agent_extra]
        if self._nf_options is not None:
            args += ["--nf", self.testbed.nf, "--netns", self.testbed.namespace(host)]
            for key, value in self._nf_options.items():
                args += ["--nf-option", f"{key}={value}"]
        self._procs[host] = _start(self.testbed.namespace(host), args, None)

    def kill_agent(self, instance: int) -> None:
        """SIGKILL instance ``instance``'s agent (its host died) and reap it."""
        proc = self._procs.pop(instance_host(instance))
        proc.kill()
        proc.wait()

    def signal_agent(self, instance: int, sig: signal.Signals) -> None:
        """Send ``sig`` to instance ``instance``'s agent: SIGSTOP freezes the whole process
        (as a hung host would), SIGCONT thaws it."""
        self._procs[instance_host(instance)].send_signal(sig)

    def start_controller(self) -> None:
        args = ["controller", "run", *self._config_args, "--state-file", str(self._state_file),
                *self.controller_extra]
        if self.metrics_port is not None:
            host = self.config.host(self.config.controller.host)
            args += ["--metrics", f"{host.management_ip}:{self.metrics_port}"]
        self._procs["controller"] = _start(self.testbed.namespace(self.config.controller.host),
                                           args, "controller on port")

    def stop_controller(self) -> None:
        stop_all([self._procs.pop("controller")])

    def stop_agent(self, instance: int) -> None:
        stop_all([self._procs.pop(instance_host(instance))])

    def stop(self) -> None:
        stop_all(self._procs.values())
        self._procs.clear()

    @property
    def _switch(self) -> str:
        return self.config.only("switch").name

    # -- calls ------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        reply: dict[str, Any] = self.console.call(self.address, CONTROLLER, "Status")
        return reply

    def scale_to(self, count: int, slices: int = 1) -> dict[str, Any]:
        """``Scale`` to ``count`` instances, the moved buckets in ``slices`` epochs; the
        outcome as ``ScaleOutcome.to_json``."""
        reply: dict[str, Any] = self.console.call(self.address, CONTROLLER, "Scale",
                                                  {"instances": count, "slices": slices})
        return reply

    def wait_registered(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Ask the controller until ``count`` agents are members; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            members: list[dict[str, Any]] = self.status()["members"]
            if len(members) >= count:
                return members
            for host, proc in self._procs.items():
                if proc.poll() is not None:
                    raise TestbedError(f"the {host} process exited with code {proc.returncode} "
                                       "before every agent registered")
            if time.monotonic() > deadline:
                raise TestbedError(f"only {len(members)} of {count} agents registered with "
                                   f"{self.address} in {timeout:.0f} s")
            time.sleep(0.1)

    def agent_controls(self) -> list[str]:
        """Every registered agent's control service, by instance."""
        members = sorted(self.status()["members"], key=lambda m: int(m["instance"]))
        return [str(m["control"]) for m in members]

    def call_agents(self, method: str) -> list[Any]:
        """``s6nf.Agent.method`` at every registered agent, in instance order."""
        return [self.console.call(a, AGENT, method, timeout_s=10.0)
                for a in self.agent_controls()]

    def metrics(self) -> str:
        """The controller's Prometheus page (needs ``metrics_port``)."""
        return self.console.http_get(self.metrics_url(self.config.controller.host))

    def metrics_url(self, host: str) -> str:
        """The Prometheus page of the controller's host or of an agent's (``nf<i>``)."""
        port = self.metrics_port if host == self.config.controller.host \
            else self.agent_metrics_port
        if port is None:
            raise TestbedError(f"{host}'s component was started without a metrics port")
        return f"http://{self.config.host(host).management_ip}:{port}/metrics"

    def sockets(self) -> dict[str, list[TcpSocket]]:
        """Every IPv4 TCP socket in each control-plane host's namespace, now."""
        hosts = [self.config.controller.host, self._switch,
                 *(instance_host(i) for i in self.testbed.topology().instances)]
        return {h: tcp_sockets(self.testbed.namespace(h)) for h in hosts}


@contextmanager
def management_services(testbed: Testbed, state_file: Path, tls_dir: Path | None = None, *,
                        nf_options: Mapping[str, str] | None = None, mode: str = "s6",
                        schema: str = "", metrics_port: int | None = None,
                        agent_metrics_port: int | None = None,
                        controller_extra: Sequence[str] = (), agent_extra: Sequence[str] = (),
                        roles: Collection[str] = ROLES) -> Iterator[ControlPlane]:
    """Start the control plane (each server once it says it listens) and a console on the
    controller host; stops them on exit. ``nf_options`` (None: none) has the agents run the
    testbed's NF slow path with those settings, in DSO ``mode``; ``roles`` () starts the
    target alone. With ``tls_dir``, a development CA and every component's certificate are
    made there first and every channel uses mutual TLS (the console too)."""
    state = testbed.state
    if state is None or not state.management:
        raise TestbedError(f"testbed {testbed.name!r} has no management network: "
                           "bring it up with --management")
    config = testbed.config
    if config.source is None:
        raise TestbedError("the services read the testbed's configuration file; this "
                           "configuration was not read from one")
    config_args = ["--config", str(config.source)]
    tls = tls_dir or config.tls_dir
    if tls_dir is not None:
        init_pki(tls_dir, components(config))
        config_args += ["--tls-dir", str(tls_dir)]
    with Console(testbed.namespace(config.controller.host), tls) as console:
        plane = ControlPlane(testbed, state_file, config_args, console, metrics_port,
                             agent_metrics_port)
        plane.controller_extra, plane.agent_extra = controller_extra, agent_extra
        try:
            plane.start(nf_options, mode, schema, roles)
            yield plane
        finally:
            plane.stop()


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
