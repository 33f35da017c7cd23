"""The ``s6nf`` command line."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from s6nf import cli_config, cli_control, cli_fuzz, cli_host, cli_nf, cli_pki
from s6nf.rpc import RpcError

ALL_MODES = ("s6", "stop-and-copy", "remote-only", "local-only")


def _testbed_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", default="s6nf", help="testbed name, the prefix of its namespaces")
    p.add_argument("--config", type=Path, default=None,
                   help="testbed configuration (default: the repository's testbed.toml)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s6nf", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    testbed = sub.add_parser("testbed", help="the embedded testbed (namespaces + veth)")
    tsub = testbed.add_subparsers(dest="action", required=True)
    up = tsub.add_parser("up", help="create or resize the testbed; idempotent")
    _testbed_args(up)
    up.add_argument("--instances", type=int, default=2, help="NF instances (default 2)")
    up.add_argument("--buckets", type=int, default=None,
                    help="steering buckets (default: maps.buckets of the configuration)")
    up.add_argument("--no-steer", dest="steer", action="store_false",
                    help="leave steering to the controller (no key space from the testbed)")
    up.add_argument("--management", action=argparse.BooleanOptionalAction, default=True,
                    help="make the management network (a bridge namespace) and the "
                         "controller's namespace, with the configured addresses (default); "
                         "--no-management for the data path alone")
    up.add_argument("--reflect", action=argparse.BooleanOptionalAction, default=None,
                    help="the sink sends every packet back to gen, counted and measured there "
                         "(--no-reflect: consume again; default: as the testbed does, one-way "
                         "for a new one)")
    for action, text in (("down", "remove everything the testbed made"),
                         ("status", "hosts, links, programs, pinned maps and counters")):
        _testbed_args(tsub.add_parser(action, help=text))
    stamp = tsub.add_parser("stamp", help="attach (on) or detach (off) the send-time stamper "
                                           "at gen's egress")
    _testbed_args(stamp)
    stamp.add_argument("state", choices=["on", "off"])
    meas = tsub.add_parser("measure", help="what the sink measured (latency, loss, reordering, "
                                          "throughput) as JSON")
    _testbed_args(meas)
    meas.add_argument("--json", type=Path, help="also write it to this file")
    rep = tsub.add_parser("replay", help="replay a pcap from gen and account for every packet")
    _testbed_args(rep)
    rep.add_argument("pcap", type=Path)
    rep.add_argument("--pps", type=int, default=None, help="packets per second (default: top)")

    traffic = sub.add_parser("traffic", help="write a pcap of test flows")
    traffic.add_argument("--flows", type=int, default=1000)
    traffic.add_argument("--packets", type=int, default=5, help="packets per flow")
    traffic.add_argument("--seed", type=int, default=1)
    traffic.add_argument("--out", type=Path, required=True)

    work = sub.add_parser("workload", help="write a heavy-tailed, measurable workload as pcap "
                                           "(docs/measurement.md)")
    work.add_argument("--flows", type=int, default=1000)
    work.add_argument("--concurrency", type=int, default=100)
    work.add_argument("--rate", type=float, default=10_000.0, help="packets per second")
    work.add_argument("--size", default="pareto:20:1.2",
                      help="flow size in packets, KIND:MEAN[:SHAPE] (default pareto:20:1.2)")
    work.add_argument("--gap", default="pareto:1:1.5",
                      help="packet gaps in mean gaps, KIND:MEAN[:SHAPE] (default pareto:1:1.5)")
    work.add_argument("--payload", type=int, default=64, help="data packets' L4 payload bytes")
    work.add_argument("--tcp", type=float, default=0.5, help="fraction of TCP flows")
    work.add_argument("--seed", type=int, default=1)
    work.add_argument("--out", type=Path, required=True)

    p4 = sub.add_parser("p4", help="P4Runtime: serve the eBPF target, open p4runtime-shell")
    psub = p4.add_subparsers(dest="action", required=True)
    server = psub.add_parser("server", help="serve a testbed's eBPF steering over P4Runtime")
    _testbed_args(server)
    server.add_argument("--address", default="127.0.0.1:9559", help="host:port to listen on")
    server.add_argument("--device-id", type=int, default=1)
    server.add_argument("--pin-dir", type=Path, default=None,
                        help="serve the steering maps pinned here (by 's6nf host up' on a "
                             "switch) instead of the testbed's")
    server.add_argument("--tls-dir", type=Path, default=None,
                        help="mutual TLS with DIR/ca.crt and DIR/switch.{crt,key} (default: "
                             "[tls] dir of --config, else none)")
    shell = psub.add_parser("shell", help="p4runtime-shell on a running target (tables kept)")
    shell.add_argument("--address", default="127.0.0.1:9559")
    shell.add_argument("--device-id", type=int, default=1)
    shell.add_argument("--election-id", default="0,1", help="high,low (default 0,1)")
    shell.add_argument("--tls-dir", type=Path, default=None,
                       help="mutual TLS with DIR/ca.crt and DIR/client.{crt,key}")

    cli_control.add_parsers(sub)
    cli_config.add_parsers(sub)
    cli_pki.add_parsers(sub)
    cli_nf.add_parsers(sub)
    cli_host.add_parsers(sub)
    cli_fuzz.add_parsers(sub)

    bench = sub.add_parser("bench", help="an NF under a scale schedule at a set load, measured "
                                         "in the kernel; results as JSON, Markdown and PNG")
    bench.add_argument("--schedule", default="1@0s,2@4s,4@8s,2@12s",
                       help="instances@time, comma-separated (default 1@0s,2@4s,4@8s,2@12s)")
    bench.add_argument("--rate", type=int, default=20_000, help="packets per second")
    bench.add_argument("--flows", type=int, default=0,
                       help="flows in the workload (default: enough to span the schedule)")
    bench.add_argument("--concurrency", type=int, default=2000, help="flows active at once")
    bench.add_argument("--out", type=Path, default=None, help="results directory")
    bench.add_argument("--name", default="s6bench", help="testbed name")
    bench.add_argument("--nf", default="monitor", choices=["monitor", "nat"],
                       help="the NF under test (default monitor)")
    which = bench.add_mutually_exclusive_group()
    which.add_argument("--modes", default=None,
                       help="DSO modes to run in turn on the same trace, comma-separated "
                            f"(default: {','.join(ALL_MODES)})")
    which.add_argument("--mode", default=None, help="one DSO mode only")
    bench.add_argument("--single", action="store_true",
                       help="first run the trace through one instance with no scale event, and "
                            "compare each mode's per-flow output at the sink with it")
    bench.add_argument("--ramp", type=float, default=0.0,
                       help="open the first --concurrency flows over this many seconds")
    bench.add_argument("--size", default=None,
                       help="packets per flow, KIND:MEAN[:SHAPE] (default pareto:20:1.2)")
    bench.add_argument("--capacity", type=int, default=0, metavar="N",
                       help="after each mode's run, replay the trace at top speed through N "
                            "instances with no scale event and report the packets/s delivered")
    bench.add_argument("--slices", type=int, default=1, metavar="N",
                       help="move each scale event's buckets in N consecutive epochs (default 1)")
    bench.add_argument("--replication", default="off",
                       help="the agents' backups (agent run --replication: off, async, "
                            "declared, sync; default off: the bench measures scaling, not "
                            "failure); several, comma-separated (off,declared), run each mode "
                            "once per setting and report each setting's cost over the first")
    bench.add_argument("--punt-ring", type=int, default=None, metavar="MIB",
                       help="each instance's punt ring in MiB, a power of two (default: the "
                            "configuration's [maps] punt_ring_mib, 32)")

    from s6nf.equiv import cli as equiv_cli
    equiv_cli.add_parser(sub)

    demo = sub.add_parser("demo", help="the NAT scaling out and in under load in s6 and "
                                       "stop-and-copy mode, compared with one instance")
    demo.add_argument("--name", default="s6demo", help="testbed name")
    demo.add_argument("--out", type=Path, default=None,
                      help="results directory (default results/demo-<time>)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "testbed":
            return _testbed(args)
        if args.command == "traffic":
            return _traffic(args)
        if args.command == "workload":
            return _workload(args)
        if args.command == "p4":
            return _p4(args)
        if args.command in ("controller", "agent", "scale", "status"):
            return cli_control.run(args)
        if args.command == "bench":
            return _bench(args)
        if args.command == "config":
            return cli_config.run(args)
        if args.command == "pki":
            return cli_pki.run(args)
        if args.command == "equiv":
            from s6nf.equiv import cli as equiv_cli
            return equiv_cli.run(args)
        if args.command in ("assets", "alerts"):
            return cli_nf.run(args)
        if args.command == "host":
            return cli_host.run(args)
        if args.command == "fuzz":
            return cli_fuzz.run(args)
        return _demo(args)
    except (RuntimeError, ValueError, LookupError, OSError, RpcError) as exc:
        print(f"s6nf: error: {exc}", file=sys.stderr)
        return 1


def _testbed(args: argparse.Namespace) -> int:
    from s6nf.testbed.accounting import describe, snapshot
    from s6nf.testbed.testbed import Testbed

    config = cli_config.embedded(args.config)
    if args.action == "up":
        tb = Testbed(args.name, args.buckets or config.maps.buckets, config, args.management)
        topo = tb.up(args.instances, args.steer, args.reflect)
        state = tb.state
        way = "both ways (the sink reflects)" if state and state.reflect else "one way"
        print(f"testbed {topo.name} up: hosts {', '.join(topo.hosts)}; traffic {way}")
        return 0
    tb = Testbed(args.name, config=config)
    if args.action == "down":
        removed = tb.down()
        print(f"testbed {args.name} down: removed {', '.join(removed) or 'nothing'}")
        return 0
    if args.action == "status":
        topo = tb.topology()
        print(f"testbed {topo.name}: namespaces {', '.join(map(topo.namespace, topo.hosts))}")
        for line in describe(snapshot(tb)):
            print("  " + line)
        print(f"  gen    eth0 egress: stamper {'on' if tb.stamping() else 'off'}")
        pins = sorted(str(p.relative_to(tb.pin_root)) for p in tb.pin_root.rglob("*")
                      if p.is_file())
        print(f"  pinned under {tb.pin_root}: {', '.join(pins)}")
        state = tb.state
        if state is not None and state.management:
            hosts = [config.controller.host, *topo.hosts]
            print(f"  management network {config.management_network} (bridge in "
                  f"{tb.namespace('mgmt')}): " + ", ".join(
                      f"{h} {config.host(h).management_ip}" for h in hosts))
        return 0
    if args.action == "stamp":
        if args.state == "on":
            tb.attach_stamper()
        else:
            tb.detach_stamper()
        print(f"testbed {args.name}: stamper {'on' if tb.stamping() else 'off'}")
        return 0
    if args.action == "measure":
        return _measure(tb, args.json)
    return _print_run(tb, args.pcap, args.pps)


def _measure(tb: object, out: Path | None) -> int:
    import json

    from s6nf.agent.maps import SinkCounters
    from s6nf.measure.summary import summarize
    from s6nf.testbed.testbed import Testbed

    assert isinstance(tb, Testbed)
    tb.topology()
    with SinkCounters.pinned(tb.pin_dir("sink")) as sink:
        text = json.dumps(summarize(sink), indent=1)
    print(text)
    if out is not None:
        out.write_text(text + "\n")
    return 0


def _print_run(tb: object, pcap: Path, pps: int | None) -> int:
    from s6nf.testbed.run import run_trace
    from s6nf.testbed.testbed import Testbed

    assert isinstance(tb, Testbed)
    report = run_trace(tb, pcap, pps)
    print(f"sent {report.sent.sent} packets in {report.sent.seconds:.2f} s")
    print(f"steered at sw {report.steered}, counted at instances {report.at_instances}, "
          f"received at sink {report.received}")
    if report.reflecting:
        print(f"reflected at sink {report.reflected}, forwarded back at sw {report.uplinked}, "
              f"received back at gen {report.returned} "
              f"(replies of {len(report.returned_flows())} flows)")
    for i, flows in sorted(report.delta_flows().items()):
        print(f"  nf{i}: {len(flows)} flows, {sum(flows.values())} packets")
    problems = report.problems()
    for problem in problems:
        print(f"MISMATCH: {problem}")
    print("every packet accounted for" if not problems else "accounting FAILED")
    return 0 if not problems else 2


def _p4(args: argparse.Namespace) -> int:
    from s6nf.tls import TlsConfig, load_dir

    if args.action == "shell":
        tls: list[str] = []
        if args.tls_dir is not None:
            files = TlsConfig.in_dir(args.tls_dir, "client")
            files.load()
            tls = ["--ssl", f"--cacert={files.ca}", f"--cert={files.cert}",
                   f"--private-key={files.key}"]
        # Without --config p4runtime-shell reads the pipeline from the device instead of
        # pushing it (which would empty the tables of a running target).
        os.execv(sys.executable, [sys.executable, "-m", "p4runtime_sh",
                                  f"--grpc-addr={args.address}", f"--device-id={args.device_id}",
                                  f"--election-id={args.election_id}", *tls])
    from s6nf.agent.maps import SteeringMaps
    from s6nf.agent.p4rt import serve
    from s6nf.agent.p4rt.ebpf_backend import EbpfBackend
    from s6nf.config import load
    from s6nf.testbed.testbed import Testbed
    from s6nf.testbed.topology import default_config

    if args.pin_dir is None:
        config = cli_config.embedded(args.config)
        testbed = Testbed(args.name, config=config)
        testbed.topology()
        pins, what = testbed.pin_dir("sw"), f"testbed {args.name}"
    else:
        config = load(args.config) if args.config else default_config()
        pins, what = args.pin_dir, str(args.pin_dir)
    material = load_dir(args.tls_dir or config.tls_dir, "switch")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with SteeringMaps.pinned(pins) as maps, \
            serve(EbpfBackend(maps), args.address, args.device_id, preloaded=True,
                  tls=material) as server:
        print(f"P4Runtime server for {what} (device {args.device_id}) on "
              f"{server.address} ({'mutual TLS' if material else 'no TLS'}); Ctrl-C stops it",
              flush=True)
        stop.wait()
    return 0


def _bench(args: argparse.Namespace) -> int:
    from s6nf.harness.runner import TAIL_S, flows_for, run_modes
    from s6nf.harness.schedule import parse_schedule
    from s6nf.harness.spec import BenchSpec
    from s6nf.testbed.workload import parse_distribution

    schedule = parse_schedule(args.schedule)
    size = parse_distribution(args.size) if args.size else None
    modes = _modes(args)
    replications = _replications(args.replication)
    packets = args.rate * (schedule[-1].at_s + TAIL_S)
    flows = args.flows or flows_for(packets, flow_size=size)
    out = args.out or Path("results") / time.strftime("bench-%Y%m%d-%H%M%S")
    if args.punt_ring is not None and (args.punt_ring < 1 or args.punt_ring & (args.punt_ring - 1)):
        raise ValueError(f"--punt-ring {args.punt_ring}: a power of two of MiB (1, 2, 4, ...)")
    if args.slices < 1:
        raise ValueError(f"--slices {args.slices}: at least 1")
    if args.capacity < 0:
        raise ValueError(f"--capacity {args.capacity}: an instance count, or 0 for none")
    spec = BenchSpec(schedule, args.rate, flows, min(args.concurrency, flows), out, args.name,
                     nf=args.nf, mode=modes[0], ramp_s=args.ramp, flow_size=size,
                     punt_ring_mib=args.punt_ring, capacity_instances=args.capacity,
                     slices=args.slices, replication=replications[0])
    results = run_modes(spec, modes, _progress, single_reference=args.single,
                        replications=replications)
    for mode, run in results["modes"].items():
        m = run["measured"]
        print(f"{mode}: sent {run['sent']}, received {m['received']}, lost "
              f"{run['loss']['packets']}, reordered {m['reordered']}, under a key never sent "
              f"{run['loss']['unsent_key_packets']}")
    for mode, by_setting in results["replication_cost"].items():
        for setting, cost in by_setting.items():
            shown = ", ".join(f"{k} {v:.3f}" for k, v in cost.items() if v is not None)
            print(f"{mode}: replication {setting} ÷ {replications[0]}: {shown or 'no figures'}")
    checked = ["s6"] if "s6" in modes else modes
    broken = [name for name, run in results["modes"].items()
              if run["mode"] in checked and (run["loss"]["packets"]
                                             or run["loss"]["unsent_key_packets"]
                                             or run["measured"]["reordered"])]
    return 2 if broken else 0


def _modes(args: argparse.Namespace) -> list[str]:
    if args.mode:
        text = args.mode
    elif args.modes:
        text = args.modes
    else:
        text = ",".join(ALL_MODES)
    modes = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in modes if m not in ALL_MODES]
    if unknown or not modes:
        raise ValueError(f"unknown mode(s) {', '.join(unknown) or repr(text)}; the modes are "
                         f"{', '.join(ALL_MODES)}")
    if len(set(modes)) != len(modes):
        raise ValueError(f"a mode is given twice in {text!r}")
    return modes


def _replications(text: str) -> list[str]:
    from s6nf.agent.dso import Replicas

    settings = [r.strip() for r in text.split(",") if r.strip()]
    known = [r.value for r in Replicas]
    unknown = [r for r in settings if r not in known]
    if unknown or not settings:
        raise ValueError(f"--replication {text!r}: unknown setting(s) "
                         f"{', '.join(unknown) or repr(text)}; the settings are "
                         f"{', '.join(known)}")
    if len(set(settings)) != len(settings):
        raise ValueError(f"--replication {text!r}: a setting is given twice")
    return settings


def _progress(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


def _traffic(args: argparse.Namespace) -> int:
    from s6nf.testbed.topology import gen_link
    from s6nf.testbed.traffic import write_flows

    trace = write_flows(args.out, args.flows, args.packets, args.seed, gen_link().b.mac)
    print(f"wrote {trace.packets} packets of {len(trace.flows)} flows to {args.out}")
    return 0


def _workload(args: argparse.Namespace) -> int:
    from s6nf.testbed.topology import gen_link
    from s6nf.testbed.workload import WorkloadSpec, generate, parse_distribution

    spec = WorkloadSpec(flows=args.flows, concurrency=args.concurrency, rate_pps=args.rate,
                        flow_size=parse_distribution(args.size), gap=parse_distribution(args.gap),
                        tcp_fraction=args.tcp, payload=args.payload, seed=args.seed,
                        dst_mac=gen_link().b.mac)
    workload = generate(args.out, spec)
    print(f"wrote {workload.packets} packets of {len(workload.flows)} flows "
          f"({workload.duration_s:.3f} s at {args.rate:g} pps) to {args.out}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from s6nf.harness import demo

    out = args.out or Path("results") / time.strftime("demo-%Y%m%d-%H%M%S")
    started = time.monotonic()
    results = demo.run(args.name, out, _progress)
    for line in demo.summary(results, out):
        print(line)
    print(f"done in {time.monotonic() - started:.0f} s; every testbed is down")
    return 0 if demo.kept_promises(results) else 2


if __name__ == "__main__":
    sys.exit(main())
