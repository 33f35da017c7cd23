"""The operator's console on the controller host: a process in that host's namespace that
makes the control-plane calls a test or the bench harness asks for over a pipe.

The harness itself stays in the root namespace (it owns the testbed, tcpreplay and the
pinned maps), which has no address on the management network. Its calls to the controller
(``Scale``, ``Status``) and to the agents (``Assets``, ``Alerts``) and its reads of the
controller's metrics go through this process instead, so they cross the management network
from the controller's host like ``s6nf scale`` run there. One process for a whole run: a
scale step costs a pipe round trip, not a Python start.

Protocol, one JSON object per line each way: ``{"address", "service", "method", "request",
"timeout_s"}`` or ``{"http": URL}`` in; ``{"reply": ...}`` or ``{"error": "..."}`` out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from s6nf import netns
from s6nf.rpc import Json, JsonClient, RpcError
from s6nf.testbed.processes import stop_all


class ConsoleError(RuntimeError):
    """A call made through the console failed; the message is the remote error."""


class Console:
    """``with Console(namespace, tls_dir) as c: c.call(address, service, method)``; namespace
    None runs it in this process's own."""

    def __init__(self, namespace: str | None, tls_dir: Path | None = None) -> None:
        self.namespace = namespace
        self.tls_dir = tls_dir
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> Console:
        args = [] if self.tls_dir is None else ["--tls-dir", str(self.tls_dir)]
        argv = [sys.executable, "-m", "s6nf.testbed.console", *args]
        if self.namespace is not None:
            argv = netns.command_in(self.namespace, argv)
        self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      text=True)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._proc is not None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            stop_all([self._proc])
            self._proc = None

    def call(self, address: str, service: str, method: str, request: Json | None = None,
             timeout_s: float = 120.0) -> Any:
        """``service.method(request)`` at ``address``, from the console's namespace."""
        return self._ask({"address": address, "service": service, "method": method,
                          "request": request or {}, "timeout_s": timeout_s})

    def http_get(self, url: str) -> str:
        text: str = self._ask({"http": url})
        return text

    def _ask(self, message: dict[str, Any]) -> Any:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                raise ConsoleError(f"the console in {self.namespace} is not running")
            assert self._proc.stdin is not None and self._proc.stdout is not None
            self._proc.stdin.write(json.dumps(message) + "\n")
            self._proc.stdin.flush()
            line = self._proc.stdout.readline()
        if not line:
            raise ConsoleError(f"the console in {self.namespace} exited "
                               f"(code {self._proc.wait()})")
        answer = json.loads(line)
        if "error" in answer:
            raise ConsoleError(answer["error"])
        return answer["reply"]


async def _serve(tls_dir: Path | None) -> None:
    from s6nf.tls import load_dir

    tls = load_dir(tls_dir, "client")
    clients: dict[tuple[str, str], JsonClient] = {}
    loop = asyncio.get_running_loop()
    try:
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            message = json.loads(line)
            try:
                if "http" in message:
                    reply: Any = await asyncio.to_thread(_http_get, message["http"])
                else:
                    key = (message["address"], message["service"])
                    client = clients.get(key)
                    if client is None:
                        client = clients[key] = JsonClient(*key, tls=tls)
                    reply = await client.call(message["method"], message["request"],
                                              message["timeout_s"])
                answer: dict[str, Any] = {"reply": reply}
            except (RpcError, OSError) as exc:
                answer = {"error": str(exc)}
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()
    finally:
        for client in clients.values():
            await client.close()


def _http_get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as reply:
        text: str = reply.read().decode()
    return text


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tls-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.tls_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
