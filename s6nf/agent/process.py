"""``s6nf agent run``: one NF instance's agent — the DSO runtime, its control service, and
registration with the controller, and heartbeats from a process of their own.

A fresh agent acts in a bootstrap epoch 0 in which it homes everything itself and holds
nothing; the controller brings it into the current epoch with ``Adopt`` when it is needed.
An agent restarted in place of one that owns buckets is adopted while it registers (resuming
from its pinned maps, docs/failover.md); its NF's slow path starts only then, so no punted
packet is handled in the bootstrap epoch (the kernel keeps them in the punt ring meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import grpc

from s6nf.agent import report
from s6nf.agent.control import SERVICE as AGENT_SERVICE
from s6nf.agent.control import AgentControl
from s6nf.agent.dso.agent import DsoAgent
from s6nf.agent.dso.config import AgentConfig, Mode, Replicas
from s6nf.agent.dso.host import resolve
from s6nf.agent.dso.maps import Schema
from s6nf.agent.heartbeat import Heartbeats
from s6nf.keys import DEFAULT_BUCKETS
from s6nf.keyspace import KeySpace
from s6nf.metrics import MetricsServer, Registry, Sample
from s6nf.nfs.runtime import NfRuntime, kind_of
from s6nf.rpc import FAST_RECONNECT, Json, JsonClient, RpcError, RpcRefused
from s6nf.tls import Material, add_port, aio_server
from s6nf.tls.peers import AGENT_CONTROL

log = logging.getLogger(__name__)
CONTROLLER_SERVICE = "s6nf.Controller"
FLOW_MAPS = ("flows", "nat_flows", "ids_flows")
"""The NF's per-flow map, whichever the instance has (``s6nf_datapath_flows``)."""


@dataclass(frozen=True)
class AgentSettings:
    instance: int
    """This instance's id in the key space."""
    controller: str
    """host:port of the controller's API."""
    advertise: str
    """Host (address) peers and the controller use to reach this agent; never assumed."""
    port: int
    """Steering port towards this instance."""
    dmac: str
    """This instance's MAC on the data path."""
    control_port: int = 0
    """Port of the control service (0: any free one)."""
    state_port: int = 0
    """Port of the state channel (0: any free one)."""
    heartbeat_s: float = 0.2
    """Between two heartbeats (sent by a process of their own)."""
    buckets: int = DEFAULT_BUCKETS
    schema: str = ""
    """``package.module:NAME`` of the NF's Schema; empty for an agent without objects."""
    mode: Mode = Mode.S6
    metrics_port: int | None = None
    """Port of the Prometheus endpoint on ``advertise`` (None: no endpoint, 0: any)."""
    pin_dir: Path | None = None
    """The instance's pinned eBPF maps, for datapath metrics (None: DSO metrics only)."""
    nf: str = ""
    """The NF whose slow path this agent runs (``s6nf.nfs.runtime.kind_of``); needs pin_dir.
    Empty: the schema given by ``schema``, and no slow path."""
    nf_options: tuple[tuple[str, str], ...] = ()
    """The NF's settings (``public=198.51.100.1`` …)."""
    netns: str | None = None
    """The network namespace of the instance's data interfaces (re-injection sockets)."""
    tls: Material | None = None
    """The agent's TLS material: its control service, state channel and calls to the
    controller use mutual TLS; None for none (insecure, for local tests)."""
    replicas: Replicas = Replicas.DECLARED
    """Backups of this agent's objects at a second instance (docs/failover.md)."""
    replicate_interval_s: float = 0.05
    """Most an asynchronously replicated object's backup lags behind."""
    replicate_sweep: int = 2048
    """Entries of each eBPF-backed map a replication pass reads (``AgentConfig``)."""
    replicate_sweep_s: float = 0.5
    """Shortest time between two sweeps of an eBPF-backed map (``AgentConfig``)."""


def agent_metrics(dso: DsoAgent, pin_dir: Path | None) -> Registry:
    r = Registry()
    r.gauge("s6nf_agent_epoch", "Epoch this agent acts in.", lambda: dso.epoch)
    r.gauge("s6nf_agent_migration_in_progress",
            "1 from an epoch's prepare until the previous epoch is retired.",
            lambda: report.migration(dso)["in_progress"])
    r.gauge("s6nf_agent_objects_to_push",
            "Objects held here from older epochs whose home is now elsewhere.",
            lambda: dso.status().to_push)
    r.gauge("s6nf_agent_objects_in_flight", "Objects pushed and not yet acknowledged.",
            lambda: dso.status().in_flight)
    r.add("s6nf_agent_migrated_objects_total", "counter",
          "Objects moved by migrations: pushed away, received, pulled from a previous home.",
          lambda: [Sample(report.migration(dso)[how], {"how": how})
                   for how in ("pushed", "received", "pulled")])
    r.gauge("s6nf_agent_slow_path_queued", "Micro-thread work items queued or running.",
            lambda: dso.micro.depth)
    r.add("s6nf_agent_slow_path_total", "counter", "Micro-thread work items by outcome.",
          lambda: [Sample(dso.micro.done, {"outcome": "done"}),
                   Sample(dso.micro.failures, {"outcome": "failed"}),
                   Sample(dso.micro.overflows, {"outcome": "refused_overflow"})])
    r.add("s6nf_agent_dso_total", "counter", "DSO activity by kind (calls, fetches, pushes...).",
          lambda: [Sample(v, {"kind": k}) for k, v in vars(dso.counters).items()])
    r.add("s6nf_agent_dso_request_seconds", "histogram",
          "Round trip of DSO requests to peers, by kind (acquire, fetch, push, call).",
          dso.request_latency.samples)
    r.add("s6nf_agent_replica_total", "counter",
          "Backups by kind (copies sent and received, promoted, lost...).",
          lambda: [Sample(v, {"kind": k}) for k, v in vars(dso.replica_counters).items()])
    r.gauge("s6nf_agent_replica_sweep_passes",
            "Passes the last whole replication sweep of an eBPF map took (the lag of the "
            "kernel's updates, in replication intervals).", dso.sweep_passes)
    if pin_dir is not None:
        maps = _Occupancy(pin_dir)
        r.add("s6nf_datapath_packets_total", "counter", "Packets by verdict or note.",
              lambda: [Sample(n, {"reason": reason})
                       for reason, n in report.reasons(pin_dir).items()])
        r.add("s6nf_datapath_map_entries", "gauge", "Entries in the instance's per-flow maps.",
              lambda: [Sample(n, {"map": m}) for m, (n, _) in maps.read().items()])
        r.add("s6nf_datapath_map_capacity", "gauge", "Capacity of the per-flow maps.",
              lambda: [Sample(cap, {"map": m}) for m, (_, cap) in maps.read().items()])
        r.add("s6nf_datapath_flows", "gauge", "Flow table entries and capacity.",
              maps.flows)
    return r


class _Occupancy:
    """The maps' occupancy, read once per scrape (every family above asks for it)."""

    def __init__(self, pin_dir: Path, max_age_s: float = 0.5) -> None:
        self.pin_dir = pin_dir
        self.max_age_s = max_age_s
        self._read_at = -max_age_s
        self._value: dict[str, tuple[int, int]] = {}

    def read(self) -> dict[str, tuple[int, int]]:
        now = time.monotonic()
        if now - self._read_at >= self.max_age_s:
            self._value = report.occupancy(self.pin_dir)
            self._read_at = now
        return self._value

    def flows(self) -> list[Sample]:
        occupied = self.read()
        name = next((n for n in FLOW_MAPS if n in occupied), None)
        if name is None:
            return []
        n, cap = occupied[name]
        return [Sample(n, {"what": "entries", "map": name}),
                Sample(cap, {"what": "capacity", "map": name})]


def slow_path_metrics(r: Registry, runtime: NfRuntime) -> None:
    """The NF's punted packets by outcome, its backlog and its own counters
    (docs/punt-design.md, docs/hostile-input.md)."""

    def outcomes() -> list[Sample]:
        if runtime.slow is None:
            return []
        return [Sample(v, {"outcome": k}) for k, v in vars(runtime.slow.counters).items()]

    r.add("s6nf_nf_punted_total", "counter", "Punted packets the agent took, by outcome.",
          outcomes)
    r.gauge("s6nf_nf_backlog", "Punted packets waiting in the agent's flow queues.",
            lambda: runtime.slow.backlog if runtime.slow is not None else 0)
    r.add("s6nf_nf_reinjection_dropped_total", "counter",
          "Re-injected frames the socket's full send queue refused.",
          lambda: [Sample(runtime.reinjection_dropped)])
    r.add("s6nf_nf_events_total", "counter",
          "The NF's own counters (new flows, refusals on a full map, alerts...).",
          lambda: [Sample(v, {"event": k}) for k, v in report.nf_counters(runtime).items()])


def load_schema(ref: str) -> Schema:
    if not ref:
        return Schema([])
    schema = resolve(ref)
    if not isinstance(schema, Schema):
        raise ValueError(f"{ref} is a {type(schema).__name__}, not a Schema")
    return schema


class AgentProcess:
    """Runs until cancelled; ``ready`` is set once registered with the controller."""

    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings
        s = settings
        self.runtime: NfRuntime | None = None
        schema = load_schema(s.schema)
        if s.nf:
            if s.pin_dir is None:
                raise ValueError(f"an agent running the {s.nf} NF needs the instance's pin "
                                 "directory (--pin-dir)")
            if s.schema:
                raise ValueError("give --nf or --schema, not both: the NF brings its schema")
            self.runtime = NfRuntime(kind_of(s.nf, dict(s.nf_options)), s.pin_dir, s.netns)
            schema = self.runtime.schema
        config = AgentConfig(s.instance, mode=s.mode, tls=s.tls, replicas=s.replicas,
                             replicate_interval_s=s.replicate_interval_s,
                             replicate_sweep=s.replicate_sweep,
                             replicate_sweep_s=s.replicate_sweep_s)
        self.dso = DsoAgent(config, schema, KeySpace(0, (s.instance,) * s.buckets))
        self.control = AgentControl(self.dso, self._nf_query if s.nf else None,
                                    lambda: report.agent_report(self.dso, s.pin_dir,
                                                                self.runtime))
        self.ready = asyncio.Event()
        self._server: grpc.aio.Server | None = None
        self._controller = JsonClient(s.controller, CONTROLLER_SERVICE, timeout_s=2.0, tls=s.tls,
                                      options=FAST_RECONNECT)
        self.registry = agent_metrics(self.dso, s.pin_dir)
        if self.runtime is not None:
            slow_path_metrics(self.registry, self.runtime)
        self.metrics_port = 0

    async def _nf_query(self, name: str) -> Json:
        nf = self.runtime.nf if self.runtime is not None else None
        queries = nf.queries() if nf is not None and hasattr(nf, "queries") else {}
        if name not in queries:
            raise RpcRefused(grpc.StatusCode.FAILED_PRECONDITION,
                             f"agent {self.settings.instance}'s NF {self.settings.nf!r} does "
                             f"not answer {name} (it answers: {sorted(queries) or 'nothing'})")
        result: Json = await queries[name]()
        return result

    async def run(self) -> None:
        s = self.settings
        beats = Heartbeats(s.instance, s.controller, s.tls, s.heartbeat_s)
        await beats.start()
        try:
            await self._serve(beats)
        finally:
            await beats.__aexit__(None, None, None)

    async def _serve(self, beats: Heartbeats) -> None:
        """The agent's services, then registration and heartbeats (the sender has started
        meanwhile)."""
        s = self.settings
        state_port = await self.dso.start(f"{s.advertise}:{s.state_port}")
        self._server = aio_server(s.tls, AGENT_SERVICE, AGENT_CONTROL)
        self._server.add_generic_rpc_handlers((self.control.handler(),))
        control_port = add_port(self._server, f"{s.advertise}:{s.control_port}", s.tls)
        await self._server.start()
        metrics = None
        if s.metrics_port is not None:
            metrics = await MetricsServer(self.registry, s.advertise, s.metrics_port).__aenter__()
            self.metrics_port = metrics.port
        member = {"instance": s.instance, "control": f"{s.advertise}:{control_port}",
                  "state": f"{s.advertise}:{state_port}", "port": s.port, "dmac": s.dmac}
        try:
            await beats.ready()
            await self._keep_registered(member, beats)
        finally:
            if metrics is not None:
                await metrics.__aexit__()
            await self._server.stop(grace=0.5)
            await self._controller.close()
            if self.runtime is not None:
                await self.runtime.close()
            await self.dso.close()

    async def _keep_registered(self, member: dict[str, object], beats: Heartbeats) -> None:
        """Register, then beat from a process of their own (``s6nf.agent.heartbeat``) until
        the controller forgets this agent; then register again."""
        while True:
            beats.resume(await self._register(member))
            await beats.unregistered.wait()

    async def _register(self, member: dict[str, object]) -> int:
        """Register (retrying while the controller cannot be reached); the heartbeat
        receiver's port."""
        reachable = True
        while True:
            try:
                reply = await self._controller.call("Register",
                                                    {**member, "epoch": self.dso.epoch})
                break
            except RpcError as exc:
                if exc.code == grpc.StatusCode.INVALID_ARGUMENT:
                    raise
                if reachable:
                    log.warning("agent %d: controller unreachable (%s); the data plane runs "
                                "on, retrying", self.settings.instance, exc.code.name)
                    reachable = False
            await asyncio.sleep(self.settings.heartbeat_s)
        if self.runtime is not None and self.runtime.slow is None:
            self.runtime.start(self.dso)
        self.ready.set()
        log.info("agent %d registered with %s", self.settings.instance,
                 self.settings.controller)
        port = reply.get("heartbeat_port")
        if not isinstance(port, int) or isinstance(port, bool):
            raise RpcError(grpc.StatusCode.INTERNAL, f"the controller's Register reply names "
                           f"no heartbeat port: {reply}")
        return port


async def serve(settings: AgentSettings) -> None:
    process = AgentProcess(settings)
    with contextlib.suppress(asyncio.CancelledError):
        await process.run()
