"""An agent in its own process, driven over a pipe: for multi-agent tests and benchmarks.

The parent names coroutine functions by reference (``"package.module:function"``); the child
runs ``await function(agent, *args)`` in its event loop and sends the result back. Commands
run concurrently in the child; results come back tagged with the command's id.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import multiprocessing
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from multiprocessing.connection import Connection
from typing import Any, cast

from s6nf.agent.dso.agent import DsoAgent
from s6nf.agent.dso.config import AgentConfig, Prepare, Switch
from s6nf.agent.dso.maps import Schema
from s6nf.keyspace import KeySpace

log = logging.getLogger(__name__)

_STOP = "stop"


def resolve(ref: str) -> Any:
    module, _, name = ref.partition(":")
    if not name:
        raise ValueError(f"reference {ref!r} must look like 'package.module:name'")
    return getattr(importlib.import_module(module), name)


class AgentProcess:
    def __init__(
        self,
        config: AgentConfig,
        schema_ref: str,
        key_space: KeySpace,
        bind: str,
        start_timeout_s: float = 20.0,
    ) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self.instance = config.instance
        self.proc = ctx.Process(
            target=_child_main, args=(child, config, schema_ref, key_space, bind), daemon=True,
            name=f"dso-agent-{config.instance}",
        )
        self.proc.start()
        child.close()
        if not self._conn.poll(start_timeout_s):
            self.kill()
            raise TimeoutError(f"agent {config.instance} did not start in {start_timeout_s} s")
        try:
            self.port: int = self._conn.recv()
        except EOFError:
            self.kill()
            raise RuntimeError(
                f"agent {config.instance} exited before it served (exit code "
                f"{self.proc.exitcode}); a script that starts agents needs an "
                "`if __name__ == '__main__':` guard"
            ) from None
        self._next = 0
        self._results: dict[int, tuple[bool, Any]] = {}

    def submit(self, ref: str, *args: Any) -> int:
        self._next += 1
        self._conn.send((self._next, ref, args))
        return self._next

    def result(self, command: int, timeout_s: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout_s
        while command not in self._results:
            left = deadline - time.monotonic()
            if left <= 0 or not self._conn.poll(left):
                raise TimeoutError(f"agent {self.instance}: command {command} took > {timeout_s} s")
            got, ok, value = self._conn.recv()
            self._results[got] = (ok, value)
        ok, value = self._results.pop(command)
        if not ok:
            raise RuntimeError(f"agent {self.instance}: {value}")
        return value

    def run(self, ref: str, *args: Any, timeout_s: float = 20.0) -> Any:
        return self.result(self.submit(ref, *args), timeout_s)

    def stop(self, timeout_s: float = 5.0) -> None:
        with contextlib.suppress(OSError):
            self._conn.send((0, _STOP, ()))
        self.proc.join(timeout_s)
        self.kill()

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)


def _child_main(
    conn: Connection, config: AgentConfig, schema_ref: str, key_space: KeySpace, bind: str
) -> None:
    logging.basicConfig(level=logging.WARNING, format=f"agent {config.instance}: %(message)s")
    asyncio.run(_child(conn, config, cast(Schema, resolve(schema_ref)), key_space, bind))


async def _child(
    conn: Connection, config: AgentConfig, schema: Schema, key_space: KeySpace, bind: str
) -> None:
    loop = asyncio.get_running_loop()
    agent = DsoAgent(config, schema, key_space)
    conn.send(await agent.start(bind))
    tasks: set[asyncio.Task[None]] = set()

    async def run(command: int, fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> None:
        try:
            value = await fn(agent, *args)
            conn.send((command, True, value))
        except Exception as exc:
            log.warning("command %d (%s) failed: %r", command, fn, exc)
            conn.send((command, False, f"{type(exc).__name__}: {exc}"))

    try:
        while True:
            command, ref, args = await loop.run_in_executor(None, conn.recv)
            if ref == _STOP:
                break
            try:
                fn = resolve(ref)
            except Exception as exc:
                conn.send((command, False, f"cannot resolve {ref!r}: {exc!r}"))
                continue
            task = loop.create_task(run(command, fn, args), name=f"command-{command}")
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    except EOFError:
        pass
    finally:
        for task in tasks:
            task.cancel()
        await agent.close()


async def set_addresses(agent: DsoAgent, addresses: dict[int, str]) -> None:
    agent.set_addresses(addresses)


async def prepare(agent: DsoAgent, key_space: KeySpace, addresses: dict[int, str]) -> None:
    await agent.prepare(Prepare(key_space, addresses))


async def switch(agent: DsoAgent, epoch: int) -> None:
    await agent.switch(Switch(epoch))


async def wait_drained(agent: DsoAgent, epoch: int, timeout_s: float) -> dict[str, Any]:
    return asdict(await agent.wait_drained(epoch, timeout_s))


async def retire(agent: DsoAgent, epoch: int) -> None:
    agent.retire(epoch)


async def counters(agent: DsoAgent) -> dict[str, int]:
    return asdict(agent.counters)


async def held(agent: DsoAgent, map_id: int) -> list[bytes]:
    return agent.maps[map_id].storage.snapshot()


def timed_move_all(procs: list[AgentProcess], key_space: KeySpace, addresses: dict[int, str],
                   to: int) -> float:
    """Seconds from switching every bucket to instance ``to`` until the first agent (the old
    owner) holds nothing of the previous epoch: one whole migration, timed from outside."""
    moved = KeySpace(key_space.epoch + 1, (to,) * key_space.buckets)
    for p in procs:
        p.run("s6nf.agent.dso.host:prepare", moved, addresses)
    start = time.perf_counter()
    for p in procs:
        p.run("s6nf.agent.dso.host:switch", moved.epoch)
    procs[0].run("s6nf.agent.dso.host:wait_drained", key_space.epoch, 120.0, timeout_s=130)
    return time.perf_counter() - start
