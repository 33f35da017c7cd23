"""Starting one agent process per testbed instance, registered with a controller."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from s6nf.testbed.processes import stop_all
from s6nf.testbed.testbed import Testbed
from s6nf.testbed.topology import port_of


@contextmanager
def agent_processes(testbed: Testbed, controller: str, advertise: str, schema: str = "",
                    nf_options: Mapping[str, str] | None = None, mode: str = "s6",
                    metrics_ports: Mapping[int, int] | None = None
                    ) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``s6nf agent run`` for every instance of ``testbed``; terminated on exit. With
    ``nf_options`` the agents run the testbed's NF slow path (``--nf``) with those settings;
    ``metrics_ports``: instance → port of its Prometheus endpoint on ``advertise``."""
    topo = testbed.topology()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i in topo.instances:
            argv = [sys.executable, "-m", "s6nf.cli", "agent", "run", "--instance", str(i),
                    "--controller", controller, "--advertise", advertise,
                    "--port", str(port_of(i)), "--dmac", topo.endpoint(f"nf{i}", "in").mac,
                    "--pin-dir", str(testbed.pin_dir(f"nf{i}"))]
            argv += ["--mode", mode]
            if metrics_ports is not None and i in metrics_ports:
                argv += ["--metrics-port", str(metrics_ports[i])]
            if schema:
                argv += ["--schema", schema]
            if nf_options is not None:
                argv += ["--nf", testbed.nf, "--netns", testbed.namespace(f"nf{i}")]
                for key, value in nf_options.items():
                    argv += ["--nf-option", f"{key}={value}"]
            procs.append(subprocess.Popen(argv))
        yield procs
    finally:
        stop_all(procs)
