"""The fast driver: a trace through N simulated instances (real eBPF programs by
BPF_PROG_TEST_RUN, real agents in this process on 127.0.0.1 state channels) while a scale
schedule runs, steering each packet by its canonical key's bucket in the current key space.

A scale event runs the protocol's steps for real, as ``controller/scaler.py`` orders them:
new instances adopt the current key space, every agent prepares epoch e+1, every agent
switches, then steering follows e+1. Migration then overlaps the packets that follow; the
event's migrate and complete phases (``wait_drained`` on every agent, ``retire``, leavers
closed) run when the next event begins, since the runtime takes one epoch change at a time,
or at the end of the trace. Nothing waits on a clock in place of a protocol step.

A kill (``kill.py``) stops an instance abruptly between two packets; when it is declared dead
the survivors run the controller's failover to completion, aborting a scale event still
migrating (a kill at its index; a kill at a later index comes after it completed): its leavers
take part in the failover (they push away what they still hold) and stay up, as the
controller leaves them registered. Runs with kills
replicate as agents do by default (``--replication declared``).
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from s6nf.agent.dso import Mode, MwMap, Prepare, Replicas, Replication, Switch, SwMap
from s6nf.equiv.ids_setup import IDS_CONFIG
from s6nf.equiv.kill import KillRecord, fail_over
from s6nf.equiv.pool import ProgramPool
from s6nf.equiv.schedule import Kill, Scale, Schedule
from s6nf.equiv.trace import FORWARD, Step, Trace, forward_frame, read_tag, reply_frame
from s6nf.keyspace import KeySpace, initial, rebalance
from s6nf.nfs.kinds import ids_kind, monitor_kind, nat_kind
from s6nf.nfs.nat import NatConfig
from s6nf.nfs.portpool import PortRange
from s6nf.nfs.sim import NfKind, Output, SimInstance

BUCKETS = 64
MAX_ALIVE = 4
NAT = NatConfig("198.51.100.7", PortRange(20000, 20999, shards=4, lease=8),
                idle_timeout_s=3600.0, close_linger_s=3600.0)
"""No expiry during a run: every flow stays live, so public ports are unique across a run."""
DRAIN_TIMEOUT_S = 10.0
SETTLE_TIMEOUT_S = 10.0
Tag = tuple[int, int, int]
UNAPPLIED = "one-way calls never applied"
"""The end of a run's problem line when casts were lost (compared as "shared" state)."""


class RunAborted(Exception):
    """A protocol step or the slow path did not finish: the run cannot be compared."""


@dataclass
class RunRecord:
    outputs: list[Output] = field(default_factory=list)
    """(direction, frame) in the order frames left, over every instance."""
    entries: dict[int, dict[bytes, Any]] = field(default_factory=dict)
    """instance → canonical key → per-flow entry (a Record), after the last event completed."""
    objects: dict[str, dict[int, dict[bytes, dict[str, Any]]]] = field(default_factory=dict)
    """MultiWriter map name → instance → key → the object's attributes, at the end."""
    alerts: deque[dict[str, Any]] = field(default_factory=deque)
    """The IDS's alerts in the order they were raised, over every instance."""
    problems: list[str] = field(default_factory=list)
    """What went wrong in the run itself (a leaver not empty, a protocol step that failed)."""
    skipped: list[Tag] = field(default_factory=list)
    """Replies not sent because the packet they answer never left."""
    events: int = 0
    kills: list[KillRecord] = field(default_factory=list)
    excused: set[Tag] = field(default_factory=set)
    """Packets a kill may cost: at a dead instance or steered to it (``KillRecord``), and
    replies not sent because the packet they answer was one of those."""
    casts_lost: int = 0
    """One-way calls never applied, all in flight when an instance was declared dead."""
    flows_sync: bool = False
    """Whether the NF declares its per-flow map synchronously replicated."""
    cost: Counter[str] = field(default_factory=Counter)
    """What the comparison left out as a kill's cost, by what (``kill_cost``)."""


class Driver:
    def __init__(self, trace: Trace, pool: ProgramPool, mode: Mode,
                 kind: NfKind | None = None, config: Mapping[str, Any] | None = None) -> None:
        self.trace = trace
        self.pool = pool
        self.mode = mode
        self.kind = kind or nat_kind(NAT)
        self.agent_config = {"mode": mode, "call_timeout_s": 2.0, **(config or {})}
        self.record = RunRecord()
        self.sims: dict[int, SimInstance] = {}
        self.addresses: dict[int, str] = {}
        self.ks: KeySpace = initial([0], BUCKETS)
        self.pending: tuple[int, list[int]] | None = None
        self.pending_at = 0
        """The packet index of the pending event."""
        self.orphans: dict[int, SimInstance] = {}
        """Leavers of a scale event a failover aborted: up, in no key space."""
        self.undeclared: list[int] = []
        """Killed instances not declared dead yet."""
        self.injected: dict[Tag, int] = {}
        """Each packet sent → the instance it was steered to."""
        self.seen: dict[Tag, bytes] = {}
        self._scanned = 0
        self._left_casts = (0, 0)

    async def run(self, schedule: Schedule) -> RunRecord:
        try:
            await self._run(schedule)
        except RunAborted as exc:
            self.record.problems.append(str(exc))
        finally:
            await self.close()
        return self.record

    async def _run(self, schedule: Schedule) -> None:
        timeline = schedule.timeline(MAX_ALIVE)
        steps = self.trace.steps()
        self.ks = initial(range(max(1, min(schedule.start, MAX_ALIVE))), BUCKETS)
        self.pool.reserve(peak_alive(self.ks.instances, timeline))
        if schedule.kills:
            self.agent_config.setdefault("replicas", Replicas.DECLARED)
        for i in sorted(self.ks.instances):
            await self._add(i)
        self._address_all()
        last = max(0, len(steps) - 1)
        by_index: dict[int, list[Scale | Kill | int]] = defaultdict(list)
        for ev in timeline:
            by_index[min(ev.at, last)].append(ev)
            if isinstance(ev, Kill):
                by_index[min(ev.declare_at, last)].append(ev.instance)
        for index, step in enumerate(steps):
            for action in by_index.get(index, []):
                if isinstance(action, Scale):
                    await self.scale(action.members, index)
                elif isinstance(action, Kill):
                    await self.kill(action.instance, index)
                else:
                    await self.declare_dead(action)
            await self.send(step)
            for _ in range(schedule.pace):
                await asyncio.sleep(0)
        await self.settle()
        if self.pending is not None:
            await self.complete()
        await self.settle()
        await self.quiesce()
        self._scan()
        for i, sim in self.orphans.items():
            left = sum(len(ms.storage.snapshot()) for ms in sim.agent.maps.values())
            if left:
                self.record.problems.append(
                    f"instance {i}, leaving when a failover aborted its scale event, still "
                    f"holds {left} objects at the end")
        for i, sim in {**self.sims, **self.orphans}.items():
            self.record.entries[i] = dict(sim.nf.flows.storage.items())
            for ms in sim.agent.maps.values():
                if isinstance(ms.decl, MwMap):
                    held = {k: dict(vars(ms.storage.get(k))) for k in ms.storage.snapshot()}
                    self.record.objects.setdefault(ms.decl.name, {})[i] = held

    async def _add(self, instance: int) -> None:
        sim = SimInstance(self.kind, instance, self.ks, config=self.agent_config,
                          program=self.pool.take(), outputs=self.record.outputs)
        if hasattr(sim.nf, "alerts"):
            sim.nf.alerts = self.record.alerts
        self.sims[instance] = sim
        self.addresses[instance] = await sim.start("127.0.0.1:0")

    def _address_all(self) -> None:
        for sim in self.sims.values():
            sim.agent.set_addresses(self.addresses)

    async def send(self, step: Step) -> None:
        tag = (step.flow, step.direction, step.n)
        if step.direction == FORWARD:
            frame, key = forward_frame(self.trace, step)
        else:
            answered = (step.flow, FORWARD, step.answers)
            if answered not in self._scan():
                await self.settle()
            out = self._scan().get(answered)
            if out is None:
                self.record.skipped.append(tag)
                if answered in self.record.excused:
                    self.record.excused.add(tag)
                return
            frame, key = reply_frame(step, out)
        home = self.ks.home(key)
        sim = self.sims.get(home)
        if sim is None:
            dead = next(k for k in reversed(self.record.kills) if k.instance == home)
            dead.steered.add(tag)
            self.record.excused.add(tag)
            return
        self.injected[tag] = home
        sim.inject(step.direction, frame)

    def _scan(self) -> dict[Tag, bytes]:
        outputs = self.record.outputs
        for _, frame in outputs[self._scanned:]:
            tag = read_tag(frame)
            if tag is not None:
                self.seen.setdefault(tag, frame)
        self._scanned = len(outputs)
        return self.seen

    async def scale(self, members: tuple[int, ...], index: int = 0) -> None:
        """One scale event: adopt, prepare, switch, steering (see the module doc)."""
        if self.pending is not None:
            await self.complete()
        self.pending_at = index
        for i in members:
            if i not in self.sims:
                await self._add(i)
        self._address_all()
        nxt = rebalance(self.ks, members)
        agents = [sim.agent for sim in self.sims.values()]
        await self._all("prepare", [a.prepare(Prepare(nxt, dict(self.addresses)))
                                    for a in agents])
        await self._all("switch", [a.switch(Switch(nxt.epoch)) for a in agents])
        self.pending = (self.ks.epoch, [i for i in self.sims if i not in members])
        self.ks = nxt
        self.record.events += 1

    async def kill(self, instance: int, index: int) -> None:
        """``instance`` dies now (``SimInstance.kill``): what was inside it is lost. A kill at a
        scale event's index falls inside its migration; at a later index, after it completed."""
        if self.pending is not None and self.pending_at < index:
            await self.complete()
        sim = self.sims.pop(instance)
        seen = self._scan()
        record = KillRecord(instance, index)
        record.inside = {t for t, i in self.injected.items() if i == instance and t not in seen}
        record.held = {ms.decl.name: set(ms.storage.snapshot())
                       for ms in sim.agent.maps.values()}
        record.held_flows = dict(sim.nf.flows.storage.items())
        for ms in sim.agent.maps.values():
            if ms.storage is sim.nf.flows.storage and isinstance(ms.decl, SwMap):
                record.held_flows.update(dict.fromkeys(ms.pushing))
                record.held_flows.update(self._copies_of(instance, ms.map_id, set(ms.pushing),
                                                         ms.decl.factory))
                copied = {k for sim in self.sims.values()
                          for k in sim.agent.backups.get(instance, {}).get(ms.map_id, {})}
                record.arriving = set(ms.fetching) | ms.granted | set(ms.arrivals)
                if ms.sync_replica:
                    record.unbacked = {k for k in record.arriving | set(ms.pushing)
                                       | set(ms.storage.snapshot()) if k not in copied}
            record.held[ms.decl.name] |= set(ms.pushing)
        self.record.flows_sync = any(ms.storage is sim.nf.flows.storage
                                     and ms.decl.replication is Replication.SYNC
                                     for ms in sim.agent.maps.values())
        self.record.excused |= record.inside
        self.record.kills.append(record)
        self.undeclared.append(instance)
        if hasattr(sim.nf, "alerts"):
            sim.nf.alerts = deque()
        c = sim.agent.counters
        made, ended = self._left_casts
        self._left_casts = (made + c.casts_sent + c.casts_local,
                            ended + c.casts_applied + c.casts_lost)
        await sim.kill()
        self.pool.give(sim.program)
        del self.addresses[instance]

    def _copies_of(self, instance: int, map_id: int, keys: set[bytes],
                   record: Any) -> dict[bytes, Any]:
        """The survivors' copies of ``instance``'s objects ``keys`` (those it was pushing when
        it died: no longer in its storage, not yet acknowledged by their new home)."""
        found = {}
        for sim in self.sims.values():
            for key, data in sim.agent.backups.get(instance, {}).get(map_id, {}).items():
                if key in keys:
                    found[key] = record.from_bytes(data)
        return found

    async def declare_dead(self, instance: int) -> None:
        """The controller's failover of ``instance``, run to its end; a scale event still
        migrating is aborted first (its migrate and complete phases never run)."""
        if instance not in self.undeclared:
            return
        self.undeclared.remove(instance)
        record = next(k for k in reversed(self.record.kills) if k.instance == instance)
        if self.pending is not None:
            _, leavers = self.pending
            self.pending = None
            for i in leavers:
                self.orphans[i] = self.sims.pop(i)
        made, ended = self._casts()
        record.in_flight_casts = made - ended

        async def steered(ks: KeySpace) -> None:
            self.ks = ks

        involved = {**self.sims, **self.orphans}
        outcome = await fail_over(self.ks, instance,
                                  {i: sim.agent for i, sim in involved.items()},
                                  self.addresses, steered)
        record.promoted, record.lost = outcome.promoted, outcome.lost
        self.record.events += 1
        if not outcome.ok:
            raise RunAborted(f"failover of instance {instance} failed: " + "; ".join(
                f"{p.name}: {p.detail}" for p in outcome.phases if not p.ok))

    async def complete(self) -> None:
        """The pending event's migrate and complete phases; leavers end empty and close."""
        assert self.pending is not None
        epoch, leavers = self.pending
        self.pending = None
        for i in leavers:
            await self._settle_one(self.sims[i])
        agents = [sim.agent for sim in self.sims.values()]
        await self._all("wait_drained", [a.wait_drained(epoch, DRAIN_TIMEOUT_S) for a in agents])
        for a in agents:
            a.retire(epoch)
        for i in leavers:
            sim = self.sims.pop(i)
            del self.addresses[i]
            left = sim.nf.flows.storage.snapshot()
            if left:
                self.record.problems.append(f"instance {i} left holding {len(left)} entries "
                                            f"after epoch {epoch} was retired")
            await self._close(sim)

    async def _all(self, step: str, calls: list[Any]) -> None:
        results = await asyncio.gather(*calls, return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise RunAborted(f"{step} failed at epoch {self.ks.epoch}: "
                             + "; ".join(repr(f) for f in failed))

    async def _settle_one(self, sim: SimInstance) -> None:
        try:
            await asyncio.wait_for(sim.settle(), SETTLE_TIMEOUT_S)
        except TimeoutError:
            raise RunAborted(f"instance {sim.instance}: slow path still busy after "
                             f"{SETTLE_TIMEOUT_S} s ({sim.agent.micro.depth} queued)") from None

    async def settle(self) -> None:
        """Until every instance's slow path is idle (work at one may start work at another).
        A killed instance is declared dead first: detection does not wait for slow paths,
        which may wait for it (``DsoAgent.after_failover``)."""
        for instance in list(self.undeclared):
            await self.declare_dead(instance)
        while True:
            alive = [*self.sims.values(), *self.orphans.values()]
            for sim in alive:
                await self._settle_one(sim)
            if not any(sim.agent.micro.depth for sim in alive):
                return

    def _casts(self) -> tuple[int, int]:
        """(casts made, casts applied or lost) over every instance, those gone included."""
        made, ended = self._left_casts
        for sim in [*self.sims.values(), *self.orphans.values()]:
            c = sim.agent.counters
            made += c.casts_sent + c.casts_local
            ended += c.casts_applied + c.casts_lost
        return made, ended

    async def quiesce(self) -> None:
        """Until every one-way call made has been applied (or counted lost): casts travel in
        batches on timers, so the end of the slow paths is not the end of their effects.
        After kills, those in flight when an instance was declared dead may be lost: a
        barrier (``sync_links``) at every agent makes sure the others were handled."""
        excused = sum(k.in_flight_casts for k in self.record.kills)
        deadline = asyncio.get_running_loop().time() + SETTLE_TIMEOUT_S
        while True:
            made, ended = self._casts()
            if ended >= made - excused:
                break
            if asyncio.get_running_loop().time() > deadline:
                self.record.problems.append(f"{made - ended - excused} {UNAPPLIED}")
                return
            await asyncio.sleep(0.001)
            await self.settle()
        if self.record.kills:
            for sim in [*self.sims.values(), *self.orphans.values()]:
                await sim.agent.sync_links(deep=True)
            await self.settle()
            made, ended = self._casts()
            self.record.casts_lost = max(0, made - ended)

    async def _close(self, sim: SimInstance) -> None:
        c = sim.agent.counters
        made, ended = self._left_casts
        self._left_casts = (made + c.casts_sent + c.casts_local,
                            ended + c.casts_applied + c.casts_lost)
        await sim.close()
        self.pool.give(sim.program)

    async def close(self) -> None:
        for sim in [*self.sims.values(), *self.orphans.values()]:
            await self._close(sim)
        self.sims.clear()
        self.orphans.clear()


def peak_alive(start: frozenset[int], timeline: list[Scale | Kill]) -> int:
    """Most instances up at once: during an event its leavers are still up beside the
    newcomers (until the next event completes it, or for good when a kill's failover aborts
    it); a killed instance's program is free again."""
    alive, members, leaving = set(start), set(start), set[int]()
    peak = len(alive)
    for ev in timeline:
        if isinstance(ev, Scale):
            alive = (alive - leaving) | set(ev.members)
            peak = max(peak, len(alive))
            leaving = members - set(ev.members)
            members = set(ev.members)
        else:
            alive.discard(ev.instance)
            members.discard(ev.instance)
            leaving = set()
    return peak


def kind_named(nf: str) -> NfKind:
    """The NFs the checker runs: ``nat``, ``monitor`` (the asset monitor) and ``ids``."""
    if nf == "nat":
        return nat_kind(NAT)
    if nf == "monitor":
        return monitor_kind()
    if nf == "ids":
        return ids_kind(IDS_CONFIG)
    raise ValueError(f"the checker runs the nat, the monitor and the ids, not {nf!r}")


async def run(trace: Trace, schedule: Schedule, pool: ProgramPool,
              mode: Mode = Mode.S6) -> RunRecord:
    return await Driver(trace, pool, mode, kind_named(pool.program)).run(schedule)


async def reference(trace: Trace, pool: ProgramPool, pace: int = 0) -> RunRecord:
    """One instance that never scales."""
    return await Driver(trace, pool, Mode.S6, kind_named(pool.program)).run(
        Schedule(1, (), pace))
