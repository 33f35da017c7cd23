"""The controller as a service: the thin adapter around the pure core that does the I/O —
its API (``s6nf.Controller``: Register, Heartbeat, Scale, Status), P4Runtime, the agents'
control services and the state file — and the failure detector: a member silent for
``dead_after_s``, or whose event loop has been stalled for ``wedged_after_s``, is declared
dead and its buckets fail over to their backups. Heartbeats arrive on a server of their own
(``s6nf.controller.heartbeats``), read by threads whatever this event loop is doing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import grpc

from s6nf.agent.control import SERVICE as AGENT_SERVICE
from s6nf.agent.control import key_space_to_json
from s6nf.controller import core, liveness, persist
from s6nf.controller.failover import FailoverOutcome, execute_failover
from s6nf.controller.heartbeats import HeartbeatBoard, HeartbeatServer
from s6nf.controller.model import ControllerState, Member, ScalePlan, Steer
from s6nf.controller.p4rt_client import DeviceConfig, P4RuntimeClient
from s6nf.controller.scaler import PHASES, PhaseResult, ScaleOutcome, call_all, execute
from s6nf.keys import DEFAULT_BUCKETS
from s6nf.keyspace import KeySpace
from s6nf.metrics import MetricsServer, Registry, Sample
from s6nf.rpc import Json, JsonClient, RpcError, RpcRefused, field, generic_handler
from s6nf.tls import Material, add_port, aio_server
from s6nf.tls.peers import CONTROLLER_API

log = logging.getLogger(__name__)
SERVICE = "s6nf.Controller"
STALL_GRACE_S = 0.3
"""After the detector itself ran late (the controller's GIL held by a C call, a garbage
collection), this long for the receiver's threads to read the heartbeats that queued up
meanwhile before anyone is declared dead."""
RESTART_GRACE_S = 3.0
"""After a controller restart, how long its members have to reach it again (their channels
back off while it was away) before silence counts against them."""


@dataclass(frozen=True)
class ControllerSettings:
    bind: str
    """host:port of the controller's API."""
    device: DeviceConfig
    """The steering target, reached over P4Runtime."""
    state_file: Path
    """Where membership, key space and epoch survive a restart."""
    heartbeat_timeout_s: float = 3.0
    """A member silent this long is reported as silent by Status."""
    dead_after_s: float = 1.0
    """A member silent this long is declared dead: removed, and the buckets it owned fail
    over to their backups (0: never)."""
    wedged_after_s: float = 5.0
    """A member whose heartbeats say its event loop has made no progress for this long is
    declared dead too, although it still beats (0: never; docs/failover.md)."""
    heartbeat_port: int | None = None
    """Port of the heartbeat receiver on the API's host (None: the API's port + 1, or any
    free port when the API's is 0; 0: any free port)."""
    phase_timeout_s: float = 30.0
    target_wait_s: float = 60.0
    """How long to keep trying to reach the steering target at start."""
    """Each scale phase must finish within this."""
    buckets: int = DEFAULT_BUCKETS
    metrics: str | None = None
    """host:port of the Prometheus endpoint (``/metrics``); None for none."""
    tls: Material | None = None
    """The controller's TLS material: its API, its calls to agents and to the target use
    mutual TLS; None for none (insecure, for local tests)."""


class Controller:
    """``async with Controller(settings) as c:`` loads state, connects to the target,
    reconciles steering and serves the API until the block exits."""

    def __init__(self, settings: ControllerSettings) -> None:
        self.settings = settings
        self.state = persist.load(settings.state_file, time.monotonic())
        self.p4rt = P4RuntimeClient(settings.device, settings.tls)
        self.reconciled: dict[int, Steer] = {}
        """Steering entries the last reconcile had to rewrite (tests and logs read it)."""
        self._scale_lock = asyncio.Lock()
        self._server: grpc.aio.Server | None = None
        self._agents: dict[str, JsonClient] = {}
        self.port = 0
        self.target_failures = 0
        """Failed attempts to reach the steering target."""
        self.phase: str | None = None
        """The scale phase running now, for metrics."""
        self.outcomes = {"ok": 0, "failed": 0}
        self.last_phases: dict[str, float] = {}
        self.phases_started: dict[str, int] = {}
        """Scale phases begun, by name: a phase shorter than the scrape interval still
        shows, as a step of this counter."""
        self.buckets_moved = 0
        """Buckets moved by every scale event so far (each moves its state with it)."""
        self.failovers: list[FailoverOutcome] = []
        """Every failover this controller ran, oldest first."""
        self._scale_task: asyncio.Task[ScaleOutcome] | None = None
        self._scale_agents: tuple[int, ...] = ()
        """The agents of the scale event running (a failover that aborts it includes them)."""
        self._steering: asyncio.Task[None] | None = None
        """A scale event's steering write: never cancelled half-way by a failover."""
        self._epoch_sent = 0
        """The highest epoch ever sent to agents (a failover must follow it)."""
        self._watcher: asyncio.Task[None] | None = None
        self.beats = HeartbeatBoard()
        """Every member's last heartbeat, as the receiver's threads read them."""
        self._heartbeats: HeartbeatServer | None = None
        self.registry = self._metrics()
        self._metrics_server: MetricsServer | None = None

    def _metrics(self) -> Registry:
        r = Registry()
        r.gauge("s6nf_controller_epoch", "Epoch of the current key space (0 before the first).",
                lambda: 0 if self.state.key_space is None else self.state.key_space.epoch)
        r.gauge("s6nf_controller_members", "Registered agents.", lambda: len(self.state.members))
        r.gauge("s6nf_controller_members_silent", "Registered agents not heard from lately.",
                lambda: len(liveness.silent(self.beats.snapshot(), time.monotonic(),
                                            self.settings.heartbeat_timeout_s)))
        r.add("s6nf_controller_member_loop_stalled_seconds", "gauge",
              "How long each member's event loop had made no progress, as its last heartbeat "
              "said (now) and the longest it reported (max).",
              lambda: [Sample(getattr(b, f"{which}stalled_s"),
                              {"instance": str(i), "which": which.rstrip("_") or "now"})
                       for i, b in sorted(self.beats.snapshot().items())
                       for which in ("", "max_")])
        r.add("s6nf_controller_buckets", "gauge", "Buckets each instance owns.",
              lambda: [Sample(n, {"instance": str(i)}) for i, n in
                       sorted(({} if self.state.key_space is None
                               else self.state.key_space.load()).items())])
        r.gauge("s6nf_controller_scale_in_progress", "1 while a scale event runs.",
                lambda: 1 if self.phase is not None else 0)
        r.add("s6nf_controller_scale_phase", "gauge", "1 for the scale phase running now.",
              lambda: [Sample(1 if self.phase == p else 0, {"phase": p}) for p in PHASES])
        r.add("s6nf_controller_scale_phases_started_total", "counter",
              "Scale phases begun, by phase.",
              lambda: [Sample(self.phases_started.get(p, 0), {"phase": p}) for p in PHASES])
        r.add("s6nf_controller_scale_events_total", "counter", "Scale events by outcome.",
              lambda: [Sample(n, {"outcome": o}) for o, n in self.outcomes.items()])
        r.add("s6nf_controller_last_scale_phase_seconds", "gauge",
              "How long each phase of the last scale event took.",
              lambda: [Sample(t, {"phase": p}) for p, t in self.last_phases.items()])
        r.add("s6nf_controller_buckets_moved_total", "counter",
              "Buckets scale events moved to another instance.",
              lambda: [Sample(self.buckets_moved)])
        r.add("s6nf_controller_target_connect_failures_total", "counter",
              "Failed attempts to reach the steering target.",
              lambda: [Sample(self.target_failures)])
        r.add("s6nf_controller_failovers_total", "counter", "Failovers by outcome.",
              lambda: [Sample(sum(1 for f in self.failovers if f.ok == ok),
                              {"outcome": "ok" if ok else "failed"}) for ok in (True, False)])
        r.add("s6nf_controller_last_failover_seconds", "gauge",
              "Silence before the last failover and how long each of its phases took.",
              lambda: [] if not self.failovers else
              [Sample(self.failovers[-1].silent_s, {"phase": "detect"})]
              + [Sample(p.seconds, {"phase": p.name}) for p in self.failovers[-1].phases])
        r.gauge("s6nf_controller_reconciled_entries",
                "Steering entries the last reconcile rewrote.", lambda: len(self.reconciled))
        return r

    async def __aenter__(self) -> Controller:
        await self._reach_target()
        await self.p4rt.ensure_pipeline()
        await self.reconcile()
        self._server = aio_server(self.settings.tls, SERVICE, CONTROLLER_API)
        self._server.add_generic_rpc_handlers((generic_handler(SERVICE, {
            "Register": self.register, "Heartbeat": self.heartbeat, "Scale": self.scale,
            "Status": self.status}),))
        self.port = add_port(self._server, self.settings.bind, self.settings.tls)
        if self.port == 0:
            raise OSError(f"controller cannot listen on {self.settings.bind}")
        self.beats.admit(self.state.members, time.monotonic())
        self._heartbeats = HeartbeatServer(self.beats, self._heartbeat_bind(),
                                           self.settings.tls).__enter__()
        await self._server.start()
        if self.settings.dead_after_s > 0:
            self._watcher = asyncio.get_running_loop().create_task(self._watch(), name="watch")
        if self.settings.metrics is not None:
            host, _, port = self.settings.metrics.rpartition(":")
            self._metrics_server = await MetricsServer(self.registry, host, int(port)).__aenter__()
        return self

    def _heartbeat_bind(self) -> str:
        host, _, port = self.settings.bind.rpartition(":")
        chosen = self.settings.heartbeat_port
        if chosen is None:
            chosen = int(port) + 1 if int(port) else 0
        return f"{host}:{chosen}"

    @property
    def heartbeat_port(self) -> int:
        """The heartbeat receiver's port (0 before it listens)."""
        return 0 if self._heartbeats is None else self._heartbeats.port

    @property
    def metrics_port(self) -> int:
        return 0 if self._metrics_server is None else self._metrics_server.port

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        if self._metrics_server is not None:
            await self._metrics_server.__aexit__()
        if self._server is not None:
            await self._server.stop(grace=0.5)
        if self._heartbeats is not None:
            await asyncio.to_thread(self._heartbeats.__exit__, None, None, None)
        for client in self._agents.values():
            await client.close()
        await self.p4rt.close()

    async def _reach_target(self) -> None:
        """Connect to the target, retrying with backoff while it is not there yet (a target
        started at the same time as the controller); NotPrimary is not retried."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.target_wait_s
        delay = 0.05
        while True:
            try:
                await self.p4rt.connect()
                return
            except ConnectionError as exc:
                self.target_failures += 1
                if loop.time() + delay > deadline:
                    raise ConnectionError(f"{exc} (gave up after {self.settings.target_wait_s} s)"
                                          ) from exc
                log.warning("waiting for the P4Runtime target: %s", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def reconcile(self) -> None:
        """Rewrite only the steering entries that differ from the saved key space."""
        ks = self.state.key_space
        if ks is None:
            return
        read_back = await self.p4rt.read_key_space()
        wrong = core.reconcile(ks, self.state.members, read_back)
        if wrong:
            log.warning("reconcile: rewriting %d steering entries that differ from epoch %d",
                        len(wrong), ks.epoch)
            await self.p4rt.write_key_space(wrong, set(read_back))
        self.reconciled = wrong

    def _agent(self, member: Member) -> JsonClient:
        client = self._agents.get(member.control)
        if client is None:
            client = self._agents[member.control] = JsonClient(member.control, AGENT_SERVICE,
                                                              tls=self.settings.tls)
        return client

    def _save(self) -> None:
        persist.save(self.state, self.settings.state_file)

    async def register(self, request: Json) -> Json:
        member = Member.from_json(request, time.monotonic())
        self.state = core.register(self.state, member)
        self.beats.admit([member.instance], member.last_seen)
        self._save()
        log.info("registered instance %d at %s", member.instance, member.control)
        ks = self.state.key_space
        epoch = field(request, "epoch", int, optional=True)
        if ks is not None and member.instance in ks.instances and epoch not in (None, ks.epoch):
            await self._resume(member, ks)
        return {"epoch": None if ks is None else ks.epoch, "heartbeat_port": self.heartbeat_port}

    async def _resume(self, member: Member, ks: KeySpace) -> None:
        """An owner's agent restarted: its peers learn where it is now (and send it their
        copies again), and it takes its place in the current epoch from its pinned maps and
        their copies of its other objects (nothing moves)."""
        addresses = {str(i): a for i, a in self.state.addresses().items()}
        timeout = self.settings.phase_timeout_s
        peers = {i: self._agent(m) for i, m in self.state.members.items()
                 if i != member.instance and i in ks.instances}
        await call_all(peers, "Restarted", {"instance": member.instance,
                                            "addresses": addresses}, timeout)
        await self._agent(member).call("Adopt", {
            "key_space": key_space_to_json(ks), "addresses": addresses, "resume": True},
            timeout_s=timeout)
        log.warning("instance %d restarted and resumed in epoch %d", member.instance, ks.epoch)

    async def heartbeat(self, request: Json) -> Json:
        """A heartbeat through the API, read by this loop (agents beat to the receiver; this
        stays for other clients); the reply names the receiver's port."""
        self.beats.handle(request)
        return {"heartbeat_port": self.heartbeat_port}

    async def scale(self, request: Json) -> Json:
        count = field(request, "instances", int)
        slices = field(request, "slices", int, optional=True) or 1
        if slices < 1:
            raise ValueError(f"field 'slices' must be at least 1, got {slices}")
        if self._scale_lock.locked():
            raise RpcRefused(grpc.StatusCode.UNAVAILABLE, "a scale event is running; retry")
        return (await self.run_scale(count, slices)).to_json()

    async def run_scale(self, count: int, slices: int = 1) -> ScaleOutcome:
        """``scale_to`` as the one scale event running; a failover meanwhile aborts it (the
        outcome then ends with a failed ``aborted`` phase)."""
        async with self._scale_lock:
            task = asyncio.get_running_loop().create_task(self.scale_to(count, slices),
                                                          name=f"scale-to-{count}")
            self._scale_task = task
            await asyncio.wait([task])
            if not task.cancelled():
                return task.result()
            ks = self.state.key_space
            return ScaleOutcome(0 if ks is None else ks.epoch, (), 0, (PhaseResult(
                "aborted", False, 0.0, "an instance failed; its buckets failed over"),))

    async def _steer_and_save(self, updates: Mapping[int, Steer], present: set[int],
                              ks: KeySpace) -> None:
        await self.p4rt.write_key_space(updates, present)
        self.state = ControllerState(ks, self.state.members)
        self._save()

    async def scale_to(self, count: int, slices: int = 1) -> ScaleOutcome:
        """Scale to ``count`` instances, the moved buckets in ``slices`` consecutive epochs
        (``core.plan_slices``); one outcome for the whole, its phases those of every slice."""
        instances = core.choose_instances(self.state, count)
        plans = core.plan_slices(self.state, instances, slices, self.settings.buckets)
        outcomes = []
        for plan in plans:
            outcomes.append(await self._execute(plan))
            if not outcomes[-1].ok:
                break
        last = outcomes[-1]
        outcome = ScaleOutcome(last.epoch, last.instances, sum(o.moved for o in outcomes),
                               tuple(p for o in outcomes for p in o.phases))
        self.outcomes["ok" if outcome.ok else "failed"] += 1
        self.buckets_moved += outcome.moved
        self.last_phases = {p.name: p.seconds for p in outcome.phases}
        log.info("scale to %d: %s", count, outcome.to_json())
        return outcome

    async def _execute(self, plan: ScalePlan) -> ScaleOutcome:
        self._scale_agents = plan.agents
        agents = {i: self._agent(self.state.members[i]) for i in plan.agents}
        present = set(range(plan.next.buckets)) if plan.current is not None else set(
            await self.p4rt.read_key_space())

        self._epoch_sent = max(self._epoch_sent, plan.next.epoch)

        async def write(updates: Mapping[int, Steer]) -> None:
            self._steering = asyncio.get_running_loop().create_task(
                self._steer_and_save(updates, present, plan.next), name="steer")
            await asyncio.shield(self._steering)

        async def switched(ks: KeySpace) -> None:
            self.state = ControllerState(ks, self.state.members)
            self._save()

        def phase(name: str | None) -> None:
            self.phase = name
            if name is not None:
                self.phases_started[name] = self.phases_started.get(name, 0) + 1

        return await execute(plan, agents, self.state.addresses(), write,
                             self.settings.phase_timeout_s, switched, phase)

    async def status(self, request: Json) -> Json:
        """Epoch, load, members; with ``{"instances": true}`` also each member's own report
        (packets by reason, queue, maps, migration), or the error asking it raised."""
        ks = self.state.key_space
        now = time.monotonic()
        beats = self.beats.snapshot()
        reply: Json = {
            "epoch": None if ks is None else ks.epoch,
            "load": {} if ks is None else {str(i): n for i, n in sorted(ks.load().items())},
            "key_space": None if ks is None else key_space_to_json(ks),
            "members": [m.to_json() for m in self.state.members.values()],
            "silent": liveness.silent(beats, now, self.settings.heartbeat_timeout_s),
            "wedged": liveness.wedged(beats, self.settings.wedged_after_s),
            "liveness": {str(i): {"heard_s_ago": round(now - b.at, 3),
                                  "stalled_s": round(b.stalled_s, 3),
                                  "max_stalled_s": round(b.max_stalled_s, 3)}
                         for i, b in sorted(beats.items())},
            "scale_phase": self.phase,
            "failovers": [f.to_json() for f in self.failovers],
            "reconciled": len(self.reconciled),
        }
        if request.get("instances"):
            reply["instances"] = await self._reports()
        return reply

    async def _reports(self, timeout_s: float = 3.0) -> Json:
        members = sorted(self.state.members.values(), key=lambda m: m.instance)

        async def one(member: Member) -> Json:
            try:
                answer: Json = await self._agent(member).call("Report", timeout_s=timeout_s)
                return answer
            except (RpcError, TimeoutError, ConnectionError) as exc:
                return {"instance": member.instance, "error": str(exc) or type(exc).__name__}

        answers = await asyncio.gather(*(one(m) for m in members))
        return {str(m.instance): a for m, a in zip(members, answers, strict=True)}

    async def _watch(self) -> None:
        """Declare members dead after ``dead_after_s`` of silence or ``wedged_after_s`` of a
        stalled event loop. The heartbeats' arrival times come from the receiver's threads,
        so this loop being busy does not make anyone look silent; only when the whole process
        was held (the detector itself ran late) does it wait ``STALL_GRACE_S`` for the queued
        heartbeats to be read. A controller that starts with members (a restart) gives them
        ``RESTART_GRACE_S`` to find it again first."""
        s = self.settings
        tick = min(0.05, s.dead_after_s / 10)
        last = time.monotonic()
        grace_until = last + RESTART_GRACE_S if self.state.members else 0.0
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            if now - last > 4 * tick:
                grace_until = max(grace_until, now + STALL_GRACE_S)
            last = now
            dead = liveness.dead(self.beats.snapshot(), now, s.dead_after_s, s.wedged_after_s)
            dead = [i for i in dead if i in self.state.members]
            if dead and now >= grace_until:
                try:
                    await self.fail_over(dead, now)
                except (ValueError, ConnectionError, RuntimeError) as exc:
                    log.error("failover of %s failed: %s", dead, exc)
                last = time.monotonic()

    async def fail_over(self, dead: list[int], now: float) -> FailoverOutcome | None:
        """Forget the ``dead`` members; if they owned buckets, move those to their backups
        (aborting a scale event in progress first)."""
        beats = self.beats.snapshot()
        heard = {i: beats.get(i, liveness.Beat(self.state.members[i].last_seen)) for i in dead}
        silent_s = max(max(now - b.at, b.stalled_s) for b in heard.values())
        log.warning("instances %s declared dead: %s", dead, ", ".join(
            f"{i} silent for {now - b.at:.2f} s, its loop stalled for {b.stalled_s:.2f} s"
            for i, b in heard.items()))
        task = self._scale_task
        aborted: tuple[int, ...] = ()
        if task is not None and not task.done():
            aborted = self._scale_agents
            task.cancel()
            await asyncio.wait([task])
        if self._steering is not None and not self._steering.done():
            await asyncio.wait([self._steering])
        async with self._scale_lock:
            ks = self.state.key_space
            owners = [i for i in dead if ks is not None and i in ks.instances]
            members = {i: m for i, m in self.state.members.items() if i not in dead}
            self.state = ControllerState(ks, members)
            self.beats.forget(dead)
            if ks is None or not owners:
                self._save()
                return None
            epoch = max(ks.epoch, self._epoch_sent) + 1
            plan = core.plan_failover(self.state, owners, epoch, aborted)
            self._epoch_sent = epoch
            present = set(range(plan.next.buckets))

            async def write(updates: Mapping[int, Steer]) -> None:
                await self.p4rt.write_key_space(updates, present)

            async def steered(next_ks: KeySpace) -> None:
                self.state = ControllerState(next_ks, self.state.members)
                self._save()

            agents = {i: self._agent(members[i]) for i in plan.agents}
            outcome = await execute_failover(plan, owners, silent_s, now, agents,
                                             self.state.addresses(), write,
                                             self.settings.phase_timeout_s, steered)
        self.failovers.append(outcome)
        log.warning("failover of %s: %s", owners, outcome.to_json())
        return outcome
