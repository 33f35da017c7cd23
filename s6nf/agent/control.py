"""The agent's control service: the controller's epoch commands arrive here (DESIGN.md §5).

Methods (JSON over gRPC, ``s6nf.rpc``) of service ``s6nf.Agent``:
``Status`` → the agent's epoch and what it still holds of older epochs; ``Adopt`` (an agent
in an older epoch takes the given key space as current: how a fresh or standby agent joins;
with ``resume``, a restarted agent keeps what its pinned maps hold and takes back its other
objects from its peers' copies; without, stale objects of an agent that was declared dead are
dropped first); ``Failover`` (instances were declared dead and their buckets re-steered to
their backups: take the new key space at once, accesses paused until ``EndTakeover``,
docs/failover.md); ``Restarted`` (a peer's
agent restarted: its new addresses, and it needs this agent's copies again);
``Prepare`` (key space e+1 and peers' addresses); ``Switch`` (e+1 is current);
``WaitDrained`` (until nothing of epoch e is left here); ``Retire`` (forget epoch e);
``Assets`` and ``Alerts`` (what the agent's NF answers: the asset monitor's assets homed here
and its totals; the IDS's recent alerts); ``Report`` (the status with the instance's packets
by reason, map occupancy, slow-path queue and migration progress: ``s6nf status``);
``Stall`` (a rehearsal facility: the event loop does nothing else for the given seconds, as a
loop overloaded by a backlog or held by a full garbage collection would; the heartbeats, sent
by a process of their own, go on — docs/failover.md).
"""

from __future__ import annotations

import ctypes
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from s6nf.agent.dso.agent import DsoAgent
from s6nf.agent.dso.config import Prepare, Switch
from s6nf.keyspace import KeySpace
from s6nf.rpc import Handler, Json, RpcRefused, field, generic_handler

SERVICE = "s6nf.Agent"
MAX_STALL_S = 60.0
"""The longest ``Stall`` an agent accepts."""
log = logging.getLogger(__name__)


def key_space_to_json(ks: KeySpace) -> Json:
    return {"epoch": ks.epoch, "owners": list(ks.owners)}


def key_space_from_json(data: Any) -> KeySpace:
    if not isinstance(data, dict):
        raise ValueError(f"key_space must be an object, got {data!r}")
    owners = field(data, "owners", list)
    if not all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in owners):
        raise ValueError("key_space owners must be instance ids (ints >= 0)")
    return KeySpace(field(data, "epoch", int), tuple(owners))


def addresses_from_json(data: Any) -> dict[int, str]:
    if not isinstance(data, dict):
        raise ValueError(f"addresses must be an object, got {data!r}")
    try:
        return {int(k): str(v) for k, v in data.items()}
    except ValueError as exc:
        raise ValueError(f"addresses keys must be instance ids: {exc}") from exc


class AgentControl:
    """Serves ``s6nf.Agent`` for one DsoAgent."""

    def __init__(self, agent: DsoAgent,
                 nf_query: Callable[[str], Awaitable[Json]] | None = None,
                 report: Callable[[], Json] | None = None) -> None:
        """``nf_query(name)`` answers the NF's queries (``Assets``, ``Alerts``); it raises
        ``RpcRefused`` for one the NF does not answer. ``report()`` answers ``Report``: the
        instance's packets, maps, slow path and migration (``s6nf.agent.report``)."""
        self.agent = agent
        self._nf_query = nf_query
        self._report = report

    def handler(self) -> grpc.GenericRpcHandler:
        return generic_handler(SERVICE, self.methods())

    def methods(self) -> dict[str, Handler]:
        """Method name → its JSON handler (what ``handler`` serves)."""
        return {
            "Status": self.status, "Adopt": self.adopt, "Failover": self.failover,
            "EndTakeover": self.end_takeover, "Restarted": self.restarted,
            "Prepare": self.prepare,
            "Switch": self.switch, "WaitDrained": self.wait_drained, "Retire": self.retire,
            "Assets": self.assets, "Alerts": self.alerts, "Report": self.report,
            "Stall": self.stall,
        }

    def holds_nothing(self) -> bool:
        a = self.agent
        return a.previous is None and a.next is None and all(
            len(ms.storage) == 0 and not ms.directory and not ms.old_directory
            for ms in a.maps.values())

    async def status(self, request: Json) -> Json:
        s = self.agent.status()
        return {"instance": s.instance, "epoch": s.epoch, "to_push": s.to_push,
                "in_flight": s.in_flight, "holds_nothing": self.holds_nothing()}

    async def report(self, request: Json) -> Json:
        """The status, and what ``report()`` tells (the DSO's migration figures without one)."""
        reply = await self.status({})
        if self._report is not None:
            reply.update(self._report())
        return reply

    async def stall(self, request: Json) -> Json:
        """Hold the event loop for ``seconds``, then answer: rehearses failure detection
        against a busy agent. ``how``: ``compute`` (default), Python work that hands the GIL
        to other threads every 5 ms; ``hold``, a C call that keeps the GIL the whole time, as
        a full garbage collection does."""
        seconds = float(field(request, "seconds", (int, float)))
        how = field(request, "how", str, optional=True) or "compute"
        if not 0 < seconds <= MAX_STALL_S:
            raise ValueError(f"seconds must be in (0, {MAX_STALL_S:g}], got {seconds}")
        if how not in ("compute", "hold"):
            raise ValueError(f"how must be compute or hold, got {how!r}")
        log.warning("agent %d: event loop stalled on request for %.1f s (%s)", self.agent.me,
                    seconds, how)
        start = time.monotonic()
        if how == "hold":
            ctypes.PyDLL(None).usleep(ctypes.c_uint(int(seconds * 1e6)))
        while time.monotonic() - start < seconds:
            pass
        return {"stalled_s": time.monotonic() - start}

    async def adopt(self, request: Json) -> Json:
        ks = key_space_from_json(request.get("key_space"))
        resume = bool(field(request, "resume", bool, optional=True))
        a = self.agent
        if ks.epoch == a.epoch and ks.owners == a.key_space.owners:
            return await self.status({})
        if ks.buckets != a.key_space.buckets:
            raise ValueError(f"{ks.buckets} buckets, this agent has {a.key_space.buckets}")
        addresses = addresses_from_json(request.get("addresses", {}))
        if resume:
            await a.resume(ks, addresses)
            return await self.status({})
        if not self.holds_nothing():
            if ks.epoch <= a.epoch:
                raise RpcRefused(grpc.StatusCode.FAILED_PRECONDITION,
                                 f"agent {a.me} holds objects of epoch {a.epoch}; it follows "
                                 f"later epochs by Prepare/Switch, not by adopting {ks.epoch}")
            dropped = a.discard()
            log.warning("agent %d: dropped %d stale objects of epoch %d before adopting epoch "
                        "%d", a.me, dropped, a.epoch, ks.epoch)
        a.set_addresses(addresses)
        a.key_space = ks
        return await self.status({})

    async def failover(self, request: Json) -> Json:
        ks = key_space_from_json(request.get("key_space"))
        dead = field(request, "dead", list)
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in dead):
            raise ValueError(f"dead must be a list of instance ids, got {dead!r}")
        try:
            report = await self.agent.fail_over(
                ks, dead, addresses_from_json(request.get("addresses", {})))
        except ValueError as exc:
            raise RpcRefused(grpc.StatusCode.FAILED_PRECONDITION, str(exc)) from exc
        except TimeoutError as exc:
            raise RpcRefused(grpc.StatusCode.DEADLINE_EXCEEDED, str(exc)) from exc
        return {**await self.status({}), "promoted": report.promoted, "lost": report.lost}

    async def end_takeover(self, request: Json) -> Json:
        self.agent.end_takeover()
        return await self.status({})

    async def restarted(self, request: Json) -> Json:
        instance = field(request, "instance", int)
        self.agent.set_addresses(addresses_from_json(request.get("addresses", {})))
        self.agent.fenced.discard(instance)
        self.agent.resend_to(instance)
        return {}

    async def prepare(self, request: Json) -> Json:
        ks = key_space_from_json(request.get("key_space"))
        addresses = addresses_from_json(request.get("addresses", {}))
        if self.agent.next is not None and self.agent.next == ks:
            return await self.status({})
        try:
            await self.agent.prepare(Prepare(ks, addresses))
        except ValueError as exc:
            raise RpcRefused(grpc.StatusCode.FAILED_PRECONDITION, str(exc)) from exc
        return await self.status({})

    async def switch(self, request: Json) -> Json:
        try:
            await self.agent.switch(Switch(field(request, "epoch", int)))
        except ValueError as exc:
            raise RpcRefused(grpc.StatusCode.FAILED_PRECONDITION, str(exc)) from exc
        return await self.status({})

    async def wait_drained(self, request: Json) -> Json:
        epoch = field(request, "epoch", int)
        timeout = float(field(request, "timeout_s", (int, float), optional=True) or 30.0)
        try:
            await self.agent.wait_drained(epoch, timeout)
        except TimeoutError as exc:
            raise RpcRefused(grpc.StatusCode.DEADLINE_EXCEEDED, str(exc)) from exc
        return await self.status({})

    async def _query(self, name: str) -> Json:
        if self._nf_query is None:
            raise RpcRefused(grpc.StatusCode.FAILED_PRECONDITION,
                             f"agent {self.agent.me} runs no NF slow path to answer {name}")
        return await self._nf_query(name)

    async def assets(self, request: Json) -> Json:
        return await self._query("Assets")

    async def alerts(self, request: Json) -> Json:
        return await self._query("Alerts")

    async def retire(self, request: Json) -> Json:
        self.agent.retire(field(request, "epoch", int))
        return await self.status({})
