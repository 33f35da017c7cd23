"""Code that runs inside agent processes (``AgentProcess.run("...scenarios:fn", ...)``)."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from s6nf.agent.dso import DsoAgent, MwMap, Schema, SwMap, stale, untether


class Flow:
    def __init__(self) -> None:
        self.packets = 0
        self.holders = 0
        self.max_holders = 0


class Counter:
    def __init__(self) -> None:
        self.n = 0

    @untether
    def add(self, k: int) -> None:
        self.n += k

    def fetch_add(self, k: int) -> int:
        old = self.n
        self.n += k
        return old

    def read(self) -> int:
        return self.n

    @stale(0.05)
    def read_stale(self) -> int:
        return self.n

    def write(self, v: int) -> None:
        self.n = v


class Log:
    def __init__(self) -> None:
        self.items: list[int] = []

    def append(self, v: int) -> None:
        self.items.append(v)

    def get(self) -> list[int]:
        return self.items


FLOWS = SwMap(1, "flows", Flow)
COUNTERS = MwMap(2, "counters", Counter)
LOGS = MwMap(3, "logs", Log)
SCHEMA = Schema([FLOWS, COUNTERS, LOGS])

_events: dict[str, asyncio.Event] = {}


def _event(name: str) -> asyncio.Event:
    return _events.setdefault(name, asyncio.Event())


async def signal(agent: DsoAgent, name: str) -> None:
    _event(name).set()


async def touch(agent: DsoAgent, key: bytes, times: int = 1) -> int:
    async with agent.sw(FLOWS).access(key) as flow:
        flow.packets += times
        return int(flow.packets)


async def hold(agent: DsoAgent, key: bytes, until: str) -> None:
    """Access ``key`` and keep it pinned until ``signal(until)``."""
    async with agent.sw(FLOWS).access(key):
        await _event(until).wait()


async def exclusive_hammer(agent: DsoAgent, key: bytes, n: int, tasks: int) -> int:
    """Many tasks access one key and yield while holding it; returns the accesses made."""

    async def one() -> None:
        for _ in range(n):
            async with agent.sw(FLOWS).access(key) as flow:
                flow.holders += 1
                flow.max_holders = max(flow.max_holders, flow.holders)
                await asyncio.sleep(0)
                flow.packets += 1
                flow.holders -= 1

    await asyncio.gather(*(one() for _ in range(tasks)))
    return n * tasks


async def read_flow(agent: DsoAgent, key: bytes) -> dict[str, int]:
    async with agent.sw(FLOWS).access(key, create=False) as flow:
        return dict(vars(flow))


async def waiting_at_home(agent: DsoAgent, key: bytes, n: int) -> None:
    """Wait until the home holds ``n`` queued turns behind an active one."""
    turns = agent.maps[FLOWS.map_id].turns
    while not turns.busy(key) or turns.waiting(key) < n:
        await asyncio.sleep(0.002)


async def access_and_log(agent: DsoAgent, key: bytes, log_key: bytes) -> None:
    async with agent.sw(FLOWS).access(key):
        await agent.mw(LOGS).call(log_key, Log.append, agent.me)


async def log_items(agent: DsoAgent, log_key: bytes) -> list[int]:
    return await agent.mw(LOGS).call(log_key, Log.get)


async def concurrent_misses(agent: DsoAgent, key: bytes, k: int) -> tuple[int, int]:
    before = agent.counters.acquires_sent
    await asyncio.gather(*(touch(agent, key) for _ in range(k)))
    return agent.counters.acquires_sent - before, agent.counters.coalesced


async def cast_many(agent: DsoAgent, keys: list[bytes], n: int, tasks: int) -> int:
    counters = agent.mw(COUNTERS)

    async def one(seed: int) -> None:
        rnd = random.Random(seed)
        for i in range(n):
            counters.cast(rnd.choice(keys), Counter.add, 1)
            if i % 64 == 0:
                await asyncio.sleep(0)

    await asyncio.gather(*(one(agent.me * 1000 + t) for t in range(tasks)))
    for key in keys:
        await counters.call(key, Counter.read)
    return n * tasks


async def read_counter(agent: DsoAgent, key: bytes) -> int:
    return await agent.mw(COUNTERS).call(key, Counter.read)


async def writer(agent: DsoAgent, key: bytes, n: int) -> list[tuple[int, float]]:
    """Strict writes 1..n; returns (value, completion time)."""
    out = []
    for i in range(1, n + 1):
        await agent.mw(COUNTERS).call(key, Counter.write, i)
        out.append((i, time.monotonic()))
        await asyncio.sleep(0.001)
    return out


async def stale_reader(agent: DsoAgent, key: bytes, seconds: float) -> list[tuple[float, int]]:
    """Stale reads for ``seconds``; returns (time the read started, value)."""
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t = time.monotonic()
        out.append((t, await agent.mw(COUNTERS).call(key, Counter.read_stale)))
        await asyncio.sleep(0.0005)
    return out


async def fetch_adds(
    agent: DsoAgent, key: bytes, n: int, seed: int
) -> list[tuple[float, float, int]]:
    """Strict fetch_add(1) calls at random pace; returns (invoked, answered, result)."""
    rnd = random.Random(seed)
    out = []

    async def one(count: int) -> None:
        for _ in range(count):
            if rnd.random() < 0.3:
                await asyncio.sleep(rnd.random() * 0.002)
            t0 = time.monotonic()
            got = await agent.mw(COUNTERS).call(key, Counter.fetch_add, 1)
            out.append((t0, time.monotonic(), got))

    await asyncio.gather(*(one(n // 4) for _ in range(4)))
    return out


_stop: dict[str, bool] = {}


async def stop_load(agent: DsoAgent) -> None:
    _stop["load"] = True


async def load(
    agent: DsoAgent, flow_keys: list[bytes], counter_keys: list[bytes], ticket: bytes, seed: int
) -> dict[str, Any]:
    """Traffic until ``stop_load``: flows steered to their home (and, until this agent
    switches, some accessed from elsewhere), untether adds and strict tickets from everyone."""
    _stop["load"] = False
    rnd = random.Random(seed)
    first_epoch = agent.epoch
    touched: dict[bytes, int] = {}
    adds = 0
    tickets: list[int] = []
    flows, counters = agent.sw(FLOWS), agent.mw(COUNTERS)
    while not _stop["load"]:
        key = rnd.choice(flow_keys)
        remote = agent.epoch == first_epoch and rnd.random() < 0.2
        if agent.home_of(key) == agent.me or remote:
            async with flows.access(key) as flow:
                flow.packets += 1
            touched[key] = touched.get(key, 0) + 1
        counters.cast(rnd.choice(counter_keys), Counter.add, 1)
        adds += 1
        if rnd.random() < 0.05:
            tickets.append(await counters.call(ticket, Counter.fetch_add, 1))
        await asyncio.sleep(0)
    return {"touched": touched, "adds": adds, "tickets": tickets}


async def held_flows(agent: DsoAgent) -> dict[bytes, int]:
    ms = agent.maps[FLOWS.map_id]
    out = {}
    for key in ms.storage.snapshot():
        obj = ms.storage.get(key)
        assert obj is not None
        out[key] = obj.packets
    return out


async def held_keys(agent: DsoAgent, map_id: int) -> list[bytes]:
    return agent.maps[map_id].storage.snapshot()


async def home_of(agent: DsoAgent, key: bytes) -> int:
    return agent.home_of(key)


async def try_touch(agent: DsoAgent, key: bytes) -> str:
    """Touch ``key``; the error's type and text if it fails."""
    try:
        await touch(agent, key)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return "ok"


async def wait_pinned(agent: DsoAgent, key: bytes) -> None:
    while key not in agent.maps[FLOWS.map_id].pins:
        await asyncio.sleep(0.002)


async def dump(agent: DsoAgent, map_id: int, key: bytes) -> dict[str, Any]:
    """Everything this agent knows about one key (for failure messages)."""
    ms = agent.maps[map_id]
    return {
        "epoch": agent.epoch,
        "held": ms.storage.get(key) is not None,
        "dir": ms.directory.get(key),
        "old_dir": ms.old_directory.get(key),
        "pushing": ms.pushing.get(key),
        "turn_busy": ms.turns.busy(key),
        "waiting": ms.turns.waiting(key),
        "queue": len(ms.mw_queues.get(key, ())),
        "pins": ms.pins.get(key, 0),
        "fetching": key in ms.fetching,
        "tasks": sorted(
            {t.get_name() for t in asyncio.all_tasks()} - {"Task-1", "Task-2", "rpc_task"}
        ),
        "pending": len(agent._pending),
    }


async def remove(agent: DsoAgent, key: bytes) -> bool:
    return await agent.sw(FLOWS).remove(key)


async def try_touch_existing(agent: DsoAgent, key: bytes) -> str:
    try:
        async with agent.sw(FLOWS).access(key, create=False):
            return "ok"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
