"""The process that sends an agent's heartbeats (``python -m s6nf.agent.heartbeat_sender``,
started by the agent, ``s6nf.agent.heartbeat``).

A process of its own, not a thread: a thread of the agent shares its GIL, and a full garbage
collection of an agent holding half a million objects keeps the GIL for 0.2-0.6 s at a time
(measured in a 100 kpps NAT run), which silenced a heartbeat thread for a second while the
agent was alive. This process holds nothing and collects nothing of note.

Its standard input is the agent's: the first line is its settings as JSON (it answers
``ready`` once it has read them and loaded what it needs, so the agent registers only when
beats can follow at once); then ``t`` every
time the agent's event loop turns over (every 50 ms when it is free) and ``p PORT`` when the
agent has registered and learnt the controller's heartbeat port. It beats every ``interval_s``
while its parent is alive and not stopped, saying how long the agent's loop has not turned
over. It stops beating while the parent is stopped (SIGSTOP: a frozen process is dead to the
controller) and exits when its input ends (the agent exited or was killed). When the
controller does not know the agent, it prints ``unregistered`` and waits for a new port.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass

import grpc

from s6nf.rpc import FAST_RECONNECT, RpcError, SyncJsonClient
from s6nf.tls import Material

log = logging.getLogger("s6nf.agent.heartbeat")
SERVICE = "s6nf.Heartbeat"
BEAT_TIMEOUT_S = 1.0
LATE_GAPS = 3
"""Two heartbeats further apart than this many periods are logged."""


@dataclass(frozen=True)
class SenderSettings:
    instance: int
    controller_host: str
    interval_s: float
    tick_s: float
    """How often the agent's loop writes ``t`` when it is free."""
    tls: Material | None

    def to_json(self) -> str:
        """One line; the TLS key travels in the pipe, never on a command line."""
        m = self.tls
        tls = None if m is None else {
            "root": m.root.decode(), "key": m.key.decode(), "chain": m.chain.decode(),
            "name": m.name, "role": m.role, "ips": sorted(m.ips)}
        return json.dumps({"instance": self.instance, "controller_host": self.controller_host,
                           "interval_s": self.interval_s, "tick_s": self.tick_s, "tls": tls})

    @classmethod
    def from_json(cls, line: str) -> SenderSettings:
        d = json.loads(line)
        t = d["tls"]
        tls = None if t is None else Material(
            t["root"].encode(), t["key"].encode(), t["chain"].encode(), t["name"], t["role"],
            frozenset(t["ips"]))
        return cls(int(d["instance"]), str(d["controller_host"]), float(d["interval_s"]),
                   float(d["tick_s"]), tls)


def parent_stopped(pid: int) -> bool:
    """Whether process ``pid`` is stopped (SIGSTOP, or stopped by a tracer)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] in "Tt"


class Sender:
    def __init__(self, settings: SenderSettings, parent: int) -> None:
        self.settings = settings
        self.parent = parent
        self.port = 0
        self.progress_at = time.monotonic()
        self.ended = threading.Event()

    def read_input(self) -> None:
        """``t`` and ``p PORT`` lines from the agent until its end of the pipe closes."""
        for line in sys.stdin:
            if line.startswith("t"):
                self.progress_at = time.monotonic()
            elif line.startswith("p "):
                self.port = int(line[2:])
        self.ended.set()

    def stalled_s(self, now: float) -> float:
        return max(0.0, now - self.progress_at - self.settings.tick_s)

    def run(self) -> None:
        s = self.settings
        client: SyncJsonClient | None = None
        reachable = True
        last_beat = due = time.monotonic()
        try:
            while not self.ended.wait(max(0.0, due + s.interval_s - time.monotonic())):
                due = max(due + s.interval_s, time.monotonic() - s.interval_s)
                if os.getppid() != self.parent:
                    return
                port = self.port
                if port == 0 or parent_stopped(self.parent):
                    continue
                address = f"{s.controller_host}:{port}"
                if client is None or client.address != address:
                    if client is not None:
                        client.close()
                    client = SyncJsonClient(address, SERVICE, BEAT_TIMEOUT_S, s.tls,
                                            FAST_RECONNECT)
                before = time.monotonic()
                stalled = self.stalled_s(before)
                try:
                    client.call("Beat", {"instance": s.instance, "stalled_s": stalled})
                except RpcError as exc:
                    if exc.code == grpc.StatusCode.NOT_FOUND:
                        log.warning("agent %d: the controller does not know it (%s); "
                                    "registering again", s.instance, exc)
                        self.port = 0
                        print("unregistered", flush=True)
                    elif reachable:
                        log.warning("agent %d: controller unreachable (%s); the data plane "
                                    "runs on, retrying", s.instance, exc.code.name)
                        reachable = False
                    continue
                now = time.monotonic()
                if now - last_beat > LATE_GAPS * s.interval_s:
                    log.warning("agent %d: %.2f s between two heartbeats (this one took %.2f "
                                "s; the event loop is %.2f s behind)", s.instance,
                                now - last_beat, now - before, stalled)
                last_beat = now
                if not reachable:
                    log.warning("agent %d: controller reachable again", s.instance)
                    reachable = True
        finally:
            if client is not None:
                client.close()


def main() -> int:
    # Ctrl-C reaches the agent's whole process group: the agent ends, and this with it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    settings = SenderSettings.from_json(sys.stdin.readline())
    sender = Sender(settings, os.getppid())
    print("ready", flush=True)
    threading.Thread(target=sender.read_input, name="agent-input", daemon=True).start()
    sender.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
