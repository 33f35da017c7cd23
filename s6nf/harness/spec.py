"""What one ``s6nf bench`` run is: the NF, the schedule, the load, the mode, and what follows
from it (the agents' NF settings, the testbed's configuration, the capacity run)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from s6nf.config.schema import TestbedConfig
from s6nf.harness.schedule import Step
from s6nf.testbed.replay import PacedPart
from s6nf.testbed.topology import default_config
from s6nf.testbed.workload import Distribution


@dataclass(frozen=True)
class BenchSpec:
    schedule: list[Step]
    rate_pps: int
    """Replay rate at gen."""
    flows: int
    """Flows in the workload (spread over its duration)."""
    concurrency: int
    out: Path
    """Results directory (created)."""
    name: str = "s6bench"
    """Testbed name."""
    seed: int = 1
    nf: str = "monitor"
    """The NF every instance runs: monitor (fast path only) or nat (with its agents' slow
    path)."""
    mode: str = "s6"
    """The agents' DSO mode (DESIGN.md §6)."""
    ramp_s: float = 0.0
    """The workload's first ``concurrency`` flows open evenly over this long."""
    flow_size: Distribution | None = None
    """Packets per flow (None: the workload's default, docs/measurement.md)."""
    punt_ring_mib: int | None = None
    """Each instance's punt ring (None: the configuration's ``[maps] punt_ring_mib``)."""
    capacity_instances: int = 0
    """After each mode's run, measure its capacity: the trace replayed at top speed through
    this many instances with no scale event (0: no capacity run)."""
    top_speed: bool = False
    """Replay as fast as gen can send instead of at ``rate_pps``; after the ramp, if the
    workload has one (the ramp's parts keep their rates, so the flows open as in the run)."""
    slices: int = 1
    """Each scale event's moved buckets in this many consecutive epochs
    (``Controller.scale_to``)."""
    nf_options: Mapping[str, str] | None = None
    """The agents' NF options (``--nf-option``); None: ``nf_options(nf)``."""
    replication: str = "off"
    """The agents' backups (``agent run --replication``): off by default, since the bench
    measures scaling and the modes, not failure, and the agents' default (declared) does not
    yet hold at 100 kpps with 10,000 flows (docs/bench.md); ``run_modes(replications=...)``
    measures what backups cost, side by side."""
    dead_after_s: float = 1.0
    """The controller declares an agent dead after this long without a heartbeat (the
    controller's default). The bench kills nobody: a failover in a run is a live agent
    declared dead, recorded under ``detection`` with each agent's longest event-loop stall.
    Heartbeats come from a process of their own, so an agent deep in a slow-path backlog
    still beats (docs/failover.md)."""
    wedged_after_s: float = 10.0
    """The controller's ``--wedged-after``: an agent whose event loop has not turned over for
    this long is declared dead though it beats. Above the controller's 5 s default: with
    ``--replication declared`` at 100 kpps an agent's loop stalled for 1.7-5.1 s
    (docs/bench.md), and the bench measures that cost, not failover."""
    parts: tuple[PacedPart, ...] = ()
    """The trace as parts of one rate each (``paced_parts``; set by ``run_modes`` for a
    workload with a ramp); empty: the whole trace at ``rate_pps``."""


NAT_OPTIONS = {"public": "198.51.100.1", "ports": "1024-65535", "idle_timeout_s": "3600",
               "close_linger_s": "3600"}
"""The bench's NAT: expiry held off for the run, so every flow's translation can still be read
afterwards to match what the sink received with what was sent."""


def nf_options(nf: str) -> dict[str, str]:
    """The settings the bench's agents run ``nf``'s slow path with (every NF the bench runs
    has one: the NAT's translations, the monitor's new flows and assets)."""
    return NAT_OPTIONS if nf == "nat" else {}


def capacity_spec(spec: BenchSpec, mode: str) -> BenchSpec:
    """``spec``'s capacity run in ``mode``: no scale event, the replay at top speed once the
    ramp's flows are open."""
    return dataclasses.replace(spec, mode=mode, schedule=[Step(0.0, spec.capacity_instances)],
                               top_speed=True, capacity_instances=0)


def bench_config(spec: BenchSpec) -> TestbedConfig:
    """The embedded testbed's configuration with the spec's NF and punt ring."""
    base = default_config()
    maps = (base.maps if spec.punt_ring_mib is None
            else dataclasses.replace(base.maps, punt_ring_mib=spec.punt_ring_mib))
    return dataclasses.replace(base, nf=dataclasses.replace(base.nf, name=spec.nf), maps=maps)
