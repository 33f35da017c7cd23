"""The control plane's commands as a user runs them: separate processes, real gRPC.

The steering target is the in-memory P4Runtime server (``python -m s6nf.agent.p4rt``), so
this runs without root; the eBPF target's version is tests/integration/test_controller.py.
"""

import json
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(90)
S6NF = [sys.executable, "-m", "s6nf.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


LOGS: list[Path] = []


@pytest.fixture(autouse=True)
def process_logs():
    """Each started process logs to a file, printed at teardown: pytest shows captured output
    only for a test that failed."""
    LOGS.clear()
    yield
    for log in LOGS:
        print(f"--- {log.name} ---\n{log.read_text()[-4000:]}")


def start(stack: ExitStack, log_dir: Path, argv: list[str]) -> subprocess.Popen[str]:
    log = log_dir / f"{len(LOGS)}-{argv[2] if len(argv) > 2 else 'proc'}.log"
    LOGS.append(log)
    out = stack.enter_context(log.open("w"))
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, text=True)

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()

    stack.callback(stop)
    return proc


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*S6NF, *args], capture_output=True, text=True, timeout=60, check=False)


def wait_for(predicate, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_controller_agents_scale_and_status_from_the_command_line(tmp_path):
    device, api = free_port(), free_port()
    controller = f"127.0.0.1:{api}"
    with ExitStack() as stack:
        start(stack, tmp_path, [sys.executable, "-m", "s6nf.agent.p4rt", "--address",
                      f"127.0.0.1:{device}"])
        ctl = start(stack, tmp_path, [*S6NF, "controller", "run", "--bind", controller, "--device",
                            f"127.0.0.1:{device}", "--state-file", str(tmp_path / "c.json")])
        wait_for(lambda: cli("status", "--controller", controller).returncode == 0,
                 "the controller's API")
        for i in range(3):
            start(stack, tmp_path, [*S6NF, "agent", "run", "--instance", str(i), "--controller",
                          controller, "--advertise", "127.0.0.1", "--port", str(i + 1),
                          "--dmac", f"02:00:00:00:00:{i + 1:02x}"])

        def members():
            status = json.loads(cli("status", "--controller", controller, "--json").stdout)
            return len(status["members"]) == 3 and status

        wait_for(members, "three registered agents")
        assert cli("scale", "to", "4", "--controller", controller).returncode == 1
        first = cli("scale", "to", "1", "--controller", controller)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "4096 buckets moved" in first.stdout
        out = cli("scale", "out", "--controller", controller)
        assert out.returncode == 0 and "2048 buckets moved" in out.stdout
        for phase in ("prepare", "switch", "migrate", "complete"):
            assert phase in out.stdout
        status = json.loads(cli("status", "--controller", controller, "--json").stdout)
        assert status["epoch"] == 2 and status["load"] == {"0": 2048, "1": 2048}
        assert {i: r["epoch"] for i, r in status["instances"].items()} == {
            "0": 2, "1": 2, "2": 0}, "the third agent is a standby, never adopted"
        assert all(r["migration"]["in_progress"] in (0, 1) for r in status["instances"].values())
        text = cli("status", "--controller", controller).stdout
        assert text.startswith("epoch 2; scale event: none running")
        assert "instance 1: 2,048 buckets, epoch 2" in text and "migration" in text
        bad = cli("scale", "to", "9", "--controller", controller)
        assert bad.returncode == 1 and "only 3 agents registered" in bad.stderr
        assert ctl.poll() is None


def scrape(port: int) -> dict[str, float]:
    """Metric lines → values (labels kept in the name)."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}


def test_metrics_show_a_scale_event_start_and_finish(tmp_path):
    device, api, metrics, agent_metrics = free_port(), free_port(), free_port(), free_port()
    controller = f"127.0.0.1:{api}"
    with ExitStack() as stack:
        start(stack, tmp_path, [sys.executable, "-m", "s6nf.agent.p4rt", "--address",
                      f"127.0.0.1:{device}"])
        start(stack, tmp_path, [*S6NF, "controller", "run", "--bind", controller, "--device",
                      f"127.0.0.1:{device}", "--state-file", str(tmp_path / "c.json"),
                      "--metrics", f"127.0.0.1:{metrics}"])
        start(stack, tmp_path, [
            *S6NF, "agent", "run", "--instance", "0", "--controller", controller,
            "--advertise", "127.0.0.1", "--port", "1", "--dmac", "02:00:00:00:00:01",
            "--metrics-port", str(agent_metrics)])
        wait_for(lambda: cli("status", "--controller", controller).returncode == 0
                 and scrape(metrics).get("s6nf_controller_members") == 1, "a registered agent")
        before = scrape(metrics)
        assert before["s6nf_controller_scale_in_progress"] == 0
        assert before["s6nf_controller_epoch"] == 0
        scaling = subprocess.Popen([*S6NF, "scale", "to", "1", "--controller", controller],
                                   stdout=subprocess.PIPE, text=True)
        seen = []
        while scaling.poll() is None:
            m = scrape(metrics)
            if m["s6nf_controller_scale_in_progress"] == 1:
                seen += [k for k, v in m.items() if k.startswith("s6nf_controller_scale_phase")
                         and v == 1]
        assert scaling.wait() == 0
        assert 's6nf_controller_scale_phase{phase="switch"}' in seen
        after = scrape(metrics)
        assert after["s6nf_controller_scale_in_progress"] == 0
        assert after['s6nf_controller_scale_events_total{outcome="ok"}'] == 1
        assert after["s6nf_controller_epoch"] == 1
        assert after['s6nf_controller_buckets{instance="0"}'] == 4096
        assert 's6nf_controller_last_scale_phase_seconds{phase="switch"}' in after
        agent = scrape(agent_metrics)
        assert agent["s6nf_agent_epoch"] == 1
        assert agent["s6nf_agent_objects_to_push"] == 0
        assert agent['s6nf_agent_migrated_objects_total{how="pushed"}'] == 0
        assert after["s6nf_controller_buckets_moved_total"] == 4096
