"""``s6nf bench``: an NF under a scale schedule at a set load on the embedded testbed,
measured in the kernel (DESIGN.md §8), for each mode of DESIGN.md §6 in turn on the same
trace, written out as JSON, Markdown and plots.

One mode's run: testbed with as many instances as the schedule's peak (steering left to the
controller) → the eBPF target's P4Runtime server, the controller and one agent process per
instance in that mode, each in its host's namespace over the management network
(``s6nf.testbed.services``) → first step of the schedule → stamper at gen, sink measuring →
tcpreplay of the workload at the set rate while the controller runs each later step at its
time → drain → read the sink's maps → testbed down. Latency samples taken while a scale
event runs go to the sink's "scaling" phase, the rest to "normal".
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import platform
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from s6nf.agent.maps import ProgramStats, SinkCounters
from s6nf.agent.structs import NatEntryRecord
from s6nf.harness import plots, report
from s6nf.harness.compare import (
    FlowOutcome,
    capacity_figures,
    equivalence,
    flow_outcomes,
    loss_figures,
    normal_throughput_pps,
    ratios,
    replication_cost,
    run_name,
)
from s6nf.harness.nf_state import agent_state, entry_state
from s6nf.harness.schedule import Step
from s6nf.harness.spec import NAT_OPTIONS, BenchSpec, bench_config, capacity_spec, nf_options
from s6nf.keys import FlowKey, unpack_canonical
from s6nf.measure.sequence import sequence_report
from s6nf.measure.summary import summarize
from s6nf.nfs.frames import host16, host32
from s6nf.nfs.nat_maps import NatTables
from s6nf.rpc import RpcError
from s6nf.testbed.replay import (
    ReplayResult,
    paced_parts,
    replay,
    replay_parts,
    wait_until_stable,
)
from s6nf.testbed.services import ControlPlane, management_services
from s6nf.testbed.testbed import Testbed
from s6nf.testbed.topology import gen_link, instance_host
from s6nf.testbed.workload import Distribution, Workload, WorkloadSpec, generate

NORMAL, SCALING = 0, 1
DEFAULT_FLOW_SIZE = WorkloadSpec().flow_size
SLOT_NS = 100_000_000
TAIL_S = 2.0
"""Traffic keeps flowing this long after the last scale event."""


def flows_for(packets: float, seed: int = 1, flow_size: Distribution | None = None) -> int:
    """Flows a workload needs for about ``packets`` packets, from a sample of it (its flow
    sizes are heavy-tailed, so the mean is measured rather than assumed)."""
    with tempfile.TemporaryDirectory() as tmp:
        sample = generate(Path(tmp) / "sample.pcap", WorkloadSpec(
            flows=500, seed=seed, flow_size=flow_size or DEFAULT_FLOW_SIZE))
    return max(100, round(packets * len(sample.flows) / sample.packets))


def run(spec: BenchSpec, progress: Callable[[str], None] = print) -> dict[str, Any]:
    """One mode (``spec.mode``): its run's figures (the results folder as ``run_modes``)."""
    results: dict[str, Any] = run_modes(spec, [spec.mode], progress)["modes"][spec.mode]
    return results


def run_modes(spec: BenchSpec, modes: Sequence[str], progress: Callable[[str], None] = print,
              single_reference: bool = False,
              replications: Sequence[str] = ()) -> dict[str, Any]:
    """Each mode in turn on the same generated trace, each on a fresh testbed (its NF maps and
    the controller's state file new), then the results folder for all of them.

    With ``single_reference`` the trace first runs through one instance with no scale event,
    and each mode's per-flow output at the sink is compared with that run's (DESIGN.md §8).
    With several ``replications`` (the agents' ``--replication`` settings; default
    ``spec.replication`` alone) each mode runs once per setting, one after the other, and
    ``replication_cost`` puts each setting's figures over the first's.
    """
    if not modes:
        raise ValueError("no mode to run; give at least one of s6, stop-and-copy, remote-only, "
                         "local-only")
    settings = list(replications) or [spec.replication]
    if len(set(settings)) != len(settings):
        raise ValueError(f"a replication setting is given twice in {settings}")
    duration = spec.schedule[-1].at_s + TAIL_S
    spec.out.mkdir(parents=True, exist_ok=True)
    runs: dict[str, dict[str, Any]] = {}
    outcomes: dict[str, FlowOutcome] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workload = generate(Path(tmp) / "workload.pcap", WorkloadSpec(
            flows=spec.flows, concurrency=spec.concurrency, rate_pps=spec.rate_pps,
            seed=spec.seed, dst_mac=gen_link().b.mac, one_way=spec.nf == "nat",
            ramp_s=spec.ramp_s, flow_size=spec.flow_size or DEFAULT_FLOW_SIZE))
        spec = dataclasses.replace(spec, parts=tuple(
            paced_parts(workload.path, workload.pace, Path(tmp))))
        progress(f"workload: {workload.packets} packets of {len(workload.flows)} flows "
                 f"(replayed at {spec.rate_pps:,} pps"
                 f"{f' after a {spec.ramp_s:g} s ramp' if spec.ramp_s else ''}, "
                 f"~{sum(p.packets / p.rate_pps for p in workload.pace):.1f} s;"
                 f" schedule {_schedule_text(spec.schedule)} spans {duration:.1f} s)")
        reference = None
        if single_reference:
            progress("[reference] one instance, no scale event")
            reference, single = _run_mode(
                dataclasses.replace(spec, schedule=[Step(0.0, 1)], mode="s6"), workload,
                progress)
        todo = [(mode, setting) for mode in modes for setting in settings]
        for n, (mode, setting) in enumerate(todo, 1):
            name = run_name(mode, setting, settings[0])
            one = dataclasses.replace(spec, mode=mode, replication=setting)
            progress(f"[{n}/{len(todo)}] mode {mode}, replication {setting}")
            runs[name], outcomes[name] = _run_mode(one, workload, progress)
            runs[name]["replication"] = setting
            if spec.capacity_instances:
                progress(f"[{n}/{len(todo)}] mode {mode}, replication {setting}: capacity, "
                         f"{spec.capacity_instances} instances, the trace at top speed")
                top, _ = _run_mode(capacity_spec(one, mode), workload, progress)
                runs[name]["capacity"] = capacity_figures(top)
                progress(f"  {name}: delivered {runs[name]['capacity']['delivered_pps']:,.0f} "
                         f"packets/s of {runs[name]['capacity']['offered_pps']:,.0f} offered")
    if reference is not None:
        for mode, run_ in runs.items():
            run_["equivalence"] = equivalence(outcomes[mode], single)
    results = {"nf": spec.nf, "schedule": _schedule_text(spec.schedule),
               "rate_pps": spec.rate_pps,
               "workload": {"packets": workload.packets, "flows": len(workload.flows),
                            "concurrency": spec.concurrency, "seed": spec.seed,
                            "ramp_s": spec.ramp_s,
                            "flow_size": dataclasses.asdict(spec.flow_size or DEFAULT_FLOW_SIZE),
                            "duration_s": workload.duration_s},
                "slices": spec.slices, "replication": settings[0],
                "replications": settings, "dead_after_s": spec.dead_after_s,
                "wedged_after_s": spec.wedged_after_s,
               "modes": runs, "reference": reference, "ratios": ratios(runs),
               "replication_cost": replication_cost(runs, modes, settings),
               "environment": _environment()}
    (spec.out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (spec.out / "summary.md").write_text(report.markdown(results))
    plots.throughput(results, spec.out / "throughput.png")
    plots.latency_cdf(results, spec.out / "latency_cdf.png")
    plots.modes(results, spec.out / "modes.png")
    progress(f"results in {spec.out}: {', '.join(OUTPUT_FILES)}")
    return results


OUTPUT_FILES = ("results.json", "summary.md", "throughput.png", "latency_cdf.png", "modes.png")


def _schedule_text(schedule: Sequence[Step]) -> str:
    return ",".join(f"{s.instances}@{s.at_s:g}s" for s in schedule)


def _run_mode(spec: BenchSpec, workload: Workload,
              progress: Callable[[str], None]) -> tuple[dict[str, Any], FlowOutcome]:
    peak = max(s.instances for s in spec.schedule)
    tb = Testbed(spec.name, config=bench_config(spec))
    progress(f"  testbed {spec.name}: {peak} instance{'s' if peak > 1 else ''} of {spec.nf} "
             f"({spec.mode}), stamper at gen")
    tb.up(peak, steer=False)
    load_before = os.getloadavg()
    try:
        tb.attach_stamper()
        results = asyncio.run(_run(tb, spec, workload.path, progress))
        results["load_average"] = {"before": load_before, "after": os.getloadavg()}
        sink_keys = ({k: k for k in workload.flows} if spec.nf != "nat"
                     else nat_keys(tb, workload.flows))
        sent = {sink_keys[k]: n for k, n in workload.flows.items()}
        verdicts = instance_verdicts(tb)
        placement = (state_placement(tb) if spec.nf == "nat"
                     else entry_state(tb, spec.nf) if spec.nf_options is not None else {})
        with SinkCounters.pinned(tb.pin_dir("sink")) as sink:
            hists = sink.histograms()
            measured = summarize(sink, sent)
            seq = sequence_report(sink.records(), sent)
            outcome = flow_outcomes(seq, {k.canonical(): v.canonical()
                                          for k, v in sink_keys.items()})
    finally:
        tb.down()
    results.update(mode=spec.mode, schedule=_schedule_text(spec.schedule), measured=measured,
                   instances=verdicts, state=placement, loss=loss_figures(seq),
                   histograms={str(p): {str(b): c for b, c in enumerate(h.counts) if c}
                               for p, h in enumerate(hists) if h.total})
    results["throughput_normal_pps"] = normal_throughput_pps(results)
    m, loss = measured, results["loss"]
    progress(f"  {spec.mode}: lost {loss['packets']} ({loss['flows']} flows), reordered "
             f"{m['reordered']} ({m['flows_reordered']} flows), under a key never sent "
             f"{loss['unsent_key_packets']} ({loss['unsent_key_flows']} flows)")
    return results, outcome


async def _run(tb: Testbed, spec: BenchSpec, pcap: Path,
               progress: Callable[[str], None]) -> dict[str, Any]:
    """The control plane in its namespaces over the management network (as every testbed
    run starts it), the first step, then the load; what the run's control-plane sockets
    were is recorded with the results."""
    with tempfile.TemporaryDirectory() as tmp, management_services(
            tb, Path(tmp) / "controller.json",
            nf_options=_nf_options(spec), mode=spec.mode,
            controller_extra=["--dead-after", str(spec.dead_after_s),
                              "--wedged-after", str(spec.wedged_after_s)],
            agent_extra=["--replication", spec.replication]) as plane:
        await asyncio.to_thread(plane.wait_registered, len(tb.topology().instances))
        first = await asyncio.to_thread(plane.scale_to, spec.schedule[0].instances)
        if not first["ok"]:
            raise RuntimeError(f"first install failed: {first}")
        results = await _under_load(tb, spec, pcap, plane, progress)
        results["control_plane"] = control_plane_sockets(plane)
        seen = results["detection"] = detection(await asyncio.to_thread(plane.status))
        longest = max(seen["max_loop_stall_s"].values(), default=0.0)
        progress(f"  failure detector: {len(seen['failovers'])} failovers; the longest "
                 f"stall of an agent's event loop {longest:.2f} s")
        try:
            results["replication_counters"] = {
                str(r["instance"]): r["replication"]
                for r in await asyncio.to_thread(plane.call_agents, "Report")}
        except RpcError as exc:
            progress(f"  the agents' replication counters could not be read: {exc}")
        if spec.nf_options is not None:
            results["agents"] = await agent_state(plane.call_agents, spec.nf)
        return results


def detection(status: Mapping[str, Any]) -> dict[str, Any]:
    """What the failure detector saw in a run: failovers (the bench kills nobody, so any is
    a live agent declared dead) and each agent's longest event-loop stall, as its heartbeats
    reported it (docs/failover.md)."""
    stalls = {i: v["max_stalled_s"] for i, v in status.get("liveness", {}).items()}
    return {"failovers": status["failovers"], "max_loop_stall_s": stalls}


def _nf_options(spec: BenchSpec) -> Mapping[str, str]:
    return nf_options(spec.nf) if spec.nf_options is None else spec.nf_options


def control_plane_sockets(plane: ControlPlane) -> dict[str, Any]:
    """The management network and every TCP socket of each control-plane host, now."""
    return {"network": plane.config.management_network,
            "sockets": {host: [s.to_json() for s in sockets]
                        for host, sockets in plane.sockets().items()}}


async def _under_load(tb: Testbed, spec: BenchSpec, pcap: Path, plane: ControlPlane,
                      progress: Callable[[str], None]) -> dict[str, Any]:
    sent: list[ReplayResult] = []
    with SinkCounters.pinned(tb.pin_dir("sink")) as sink:
        start_ns = time.monotonic_ns()
        sink.configure(start_ns, SLOT_NS, NORMAL)
        sender = threading.Thread(target=lambda: sent.append(
            _replay(tb.topology().namespace("gen"), spec, pcap)), name="replay")
        sender.start()
        events = []
        for step in spec.schedule[1:]:
            await asyncio.sleep(max(0.0, start_ns / 1e9 + step.at_s - time.monotonic()))
            at = time.monotonic() - start_ns / 1e9
            sink.set_phase(SCALING)
            began = time.monotonic()
            try:
                outcome = await asyncio.to_thread(plane.scale_to, step.instances,
                                                  spec.slices)
            except RpcError as exc:
                outcome = {"moved": 0, "ok": False, "phases": [], "error": str(exc)}
            sink.set_phase(NORMAL)
            took = sum(p["seconds"] for p in outcome["phases"]) or time.monotonic() - began
            events.append({"at_s": at, "instances": step.instances, "moved": outcome["moved"],
                           "seconds": took, "ok": outcome["ok"], "phases": outcome["phases"]}
                          | ({"error": outcome["error"]} if "error" in outcome else {}))
            progress(f"  {at:6.2f} s  scale to {step.instances}: {outcome['moved']} buckets "
                     f"moved in {took * 1e3:.0f} ms — {'ok' if outcome['ok'] else 'FAILED'}"
                     f"{': ' + outcome['error'] if 'error' in outcome else ''}")
        await asyncio.to_thread(sender.join)
        if not sent:
            raise RuntimeError("the replay failed; see the error above")
        await asyncio.to_thread(wait_until_stable, lambda: _received(sink), sent[0].sent)
    progress(f"  replay done: {sent[0].sent} packets in {sent[0].seconds:.1f} s")
    return {"sent": sent[0].sent, "replay_seconds": sent[0].seconds,
            "last_part_at_s": sent[0].last_part_at_s,
            "last_part_sent": sent[0].last_part_sent or sent[0].sent, "events": events}


def _replay(namespace: str, spec: BenchSpec, pcap: Path) -> ReplayResult:
    """The trace from gen: at top speed, as its paced parts, or at ``spec.rate_pps``."""
    ifname = gen_link().a.ifname
    if spec.top_speed and len(spec.parts) > 1:
        *ramp, rest = spec.parts
        return replay_parts(namespace, ifname, [*ramp, dataclasses.replace(rest, rate_pps=None)])
    if spec.top_speed:
        return replay(namespace, ifname, pcap, None)
    if spec.parts:
        return replay_parts(namespace, ifname, spec.parts)
    return replay(namespace, ifname, pcap, spec.rate_pps)


def instance_verdicts(tb: Testbed) -> dict[str, dict[str, int]]:
    """Each instance's packets by reason (where its datapath sent, punted or dropped them)."""
    out = {}
    for i in tb.topology().instances:
        with ProgramStats.pinned(tb.pin_dir(instance_host(i))) as stats:
            out[str(i)] = {r.name.lower(): n for r, n in sorted(stats.reason_counts().items())
                           if n}
    return out


def nat_entries(tb: Testbed) -> dict[int, dict[bytes, NatEntryRecord]]:
    """Each instance's NAT entries (canonical key → entry)."""
    out = {}
    for i in tb.topology().instances:
        with NatTables.pinned(tb.pin_dir(instance_host(i))) as nat:
            out[i] = nat.entries()
    return out


def state_placement(tb: Testbed) -> dict[str, Any]:
    """Where the NF's per-flow state is after the run: entries, keys held at more than one
    instance (0 when every flow's state is at exactly one), and per inside flow what its two
    entries counted — the same in any run of the same trace whatever the scale events, since
    every packet is counted once in the entry of its direction (ports differ, so a flow is
    named by its inside key)."""
    seen: dict[bytes, int] = {}
    counted: dict[str, list[int]] = {}
    for entries in nat_entries(tb).values():
        for key, e in entries.items():
            seen[key] = seen.get(key, 0) + 1
            if e.reverse:
                inside = FlowKey(host32(e.new_daddr), host32(e.orig_saddr),
                                 host16(e.new_dport), host16(e.orig_sport), key[12])
                at = 2
            else:
                inside, at = unpack_canonical(key), 0
            row = counted.setdefault(inside.canonical().hex(), [0, 0, 0, 0])
            row[at:at + 2] = [e.packets, e.bytes]
    return {"entries": len(seen), "held_twice": sum(1 for n in seen.values() if n > 1),
            "flows": dict(sorted(counted.items()))}


def nat_keys(tb: Testbed, flows: Iterable[FlowKey]) -> dict[FlowKey, FlowKey]:
    """Each sent flow → the key the sink saw it under (public address and port), from the
    forward entries at the instances. A flow whose entry is at no instance (its state lost)
    keeps its inside key, so all its packets count as lost."""
    public = FlowKey.of(NAT_OPTIONS["public"], "0.0.0.0", 0, 0, 0).src
    ports: dict[bytes, int] = {}
    for entries in nat_entries(tb).values():
        for key, entry in entries.items():
            if not entry.reverse and entry.orig_saddr:
                ports[key] = host16(entry.new_sport)
    out: dict[FlowKey, FlowKey] = {}
    for flow in flows:
        port = ports.get(flow.canonical())
        out[flow] = (flow if port is None
                     else FlowKey(public, flow.dst, port, flow.dport, flow.proto))
    return out


def _received(sink: SinkCounters) -> int:
    return sum(p for p, _ in sink.flows().values())


def _environment() -> dict[str, Any]:
    import importlib.metadata as md

    return {"kernel": platform.release(), "machine": platform.machine(),
            "python": platform.python_version(), "cpus": len(os.sched_getaffinity(0)),
            "load_average": os.getloadavg(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "versions": {"s6nf": md.version("s6nf"), "bcc": _bcc_version(),
                         "tcpreplay": _tcpreplay_version()}}


def _bcc_version() -> str | None:
    try:
        import bcc
    except ImportError:
        return None
    version = getattr(bcc, "__version__", None)
    return str(version) if version is not None else None


def _tcpreplay_version() -> str | None:
    try:
        out = subprocess.run(["tcpreplay", "-V"], capture_output=True, text=True, timeout=10,
                             check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    first = (out.stdout or out.stderr).splitlines()
    return first[0].removeprefix("tcpreplay version: ") if first else None
