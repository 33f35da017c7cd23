"""Starting one agent process per testbed instance, registered with a controller."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from s6nf.testbed.processes import stop_all
from s6nf.testbed.testbed import Testbed
from s6nf.testbed.topology import port_of


def agent_argv(testbed: Testbed, instance: int, controller: str, advertise: str,
               schema: str = "", nf_options: Mapping[str, str] | None = None, mode: str = "s6",
               extra: Sequence[str] = ()) -> list[str]:
    """The command line of instance ``instance``'s agent (see ``agent_processes``)."""
    topo = testbed.topology()
    i = instance
    argv = [sys.executable, "-m", "s6nf.cli", "agent", "run", "--instance", str(i),
            "--controller", controller, "--advertise", advertise,
            "--port", str(port_of(i)), "--dmac", topo.endpoint(f"nf{i}", "in").mac,
            "--pin-dir", str(testbed.pin_dir(f"nf{i}")), "--mode", mode, *extra]
    if schema:
        argv += ["--schema", schema]
    if nf_options is not None:
        argv += ["--nf", testbed.nf, "--netns", testbed.namespace(f"nf{i}")]
        for key, value in nf_options.items():
            argv += ["--nf-option", f"{key}={value}"]
    return argv


@contextmanager
def agent_processes(testbed: Testbed, controller: str, advertise: str, schema: str = "",
                    nf_options: Mapping[str, str] | None = None, mode: str = "s6",
                    extra: Sequence[str] = ()) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``s6nf agent run`` for every instance of ``testbed``; terminated on exit. With
    ``nf_options`` the agents run the testbed's NF slow path (``--nf``) with those settings;
    ``extra`` goes on every agent's command line. A caller may replace a list item with a
    restarted process; the list's processes at exit are the ones stopped."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i in testbed.topology().instances:
            procs.append(subprocess.Popen(agent_argv(testbed, i, controller, advertise, schema,
                                                     nf_options, mode, extra)))
        yield procs
    finally:
        stop_all(procs)
