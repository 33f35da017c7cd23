"""``s6nf controller run``, ``s6nf agent run``, ``s6nf scale``, ``s6nf status``."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
from pathlib import Path

from s6nf.agent.dso.config import Mode, Replicas
from s6nf.keys import DEFAULT_BUCKETS

DEFAULT_CONTROLLER = "127.0.0.1:9600"
_CLIENT_TLS = "mutual TLS with DIR/ca.crt and DIR/client.{crt,key} (default: none)"


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ctl = sub.add_parser("controller", help="the controller")
    csub = ctl.add_subparsers(dest="action", required=True)
    run = csub.add_parser("run", help="run the controller until interrupted")
    run.add_argument("--config", type=Path, default=None,
                     help="take every option not given here from this testbed configuration")
    run.add_argument("--bind", help=f"host:port of its API (default {DEFAULT_CONTROLLER})")
    run.add_argument("--device", help="P4Runtime target host:port (default 127.0.0.1:9559)")
    run.add_argument("--device-id", type=int)
    run.add_argument("--election-id", default="0,1", help="high,low")
    run.add_argument("--device-config", type=Path,
                     help="pipeline binary for targets that need one (bmv2 JSON)")
    run.add_argument("--p4info", type=Path,
                     help="the P4Info pushed with it (default: the committed "
                          "p4/steer.p4info.txtpb)")
    run.add_argument("--state-file", type=Path,
                     help="default /var/lib/s6nf/controller.json")
    run.add_argument("--phase-timeout", type=float, default=30.0)
    run.add_argument("--dead-after", type=float, default=1.0,
                     help="declare an agent dead after this many seconds without a heartbeat "
                          "and fail its buckets over to their backups (default 1.0; 0: never)")
    run.add_argument("--wedged-after", type=float, default=5.0,
                     help="declare an agent dead, although it still sends heartbeats, once "
                          "they say its event loop has made no progress for this many seconds "
                          "(default 5.0; 0: never)")
    run.add_argument("--heartbeat-port", type=int, default=None,
                     help="port of the heartbeat receiver, on the API's host (default: the "
                          "API's port + 1; 0: any free port)")
    run.add_argument("--metrics", default=None,
                     help="host:port for the Prometheus endpoint /metrics (default: none)")
    run.add_argument("--tls-dir", type=Path, default=None,
                     help="mutual TLS with DIR/ca.crt and DIR/controller.{crt,key} "
                          "(default: [tls] dir of --config, else none)")
    run.add_argument("-v", "--verbose", action="store_true")

    agent = sub.add_parser("agent", help="an NF instance's agent")
    asub = agent.add_subparsers(dest="action", required=True)
    arun = asub.add_parser("run", help="run an agent until interrupted")
    arun.add_argument("--config", type=Path, default=None,
                      help="take every option not given here from this testbed configuration")
    arun.add_argument("--host", help="with --config: this agent's nf host (e.g. nf0)")
    arun.add_argument("--instance", type=int, help="required without --config")
    arun.add_argument("--controller", help=f"default {DEFAULT_CONTROLLER}")
    arun.add_argument("--advertise",
                      help="address the controller and peers reach this agent at (required "
                           "without --config)")
    arun.add_argument("--port", type=int, help="steering port to this instance (required "
                                               "without --config)")
    arun.add_argument("--dmac", help="this instance's data-path MAC (required without --config)")
    arun.add_argument("--control-port", type=int, help="default 0: any free port")
    arun.add_argument("--state-port", type=int, help="default 0: any free port")
    arun.add_argument("--schema", default="", help="package.module:NAME of the NF's Schema")
    arun.add_argument("--buckets", type=int, help=f"default {DEFAULT_BUCKETS}")
    arun.add_argument("--metrics-port", type=int, default=None,
                      help="serve Prometheus metrics at http://ADVERTISE:PORT/metrics")
    arun.add_argument("--pin-dir", type=Path, default=None,
                      help="the instance's pinned eBPF maps, for datapath metrics")
    arun.add_argument("--nf", default="",
                      help="run this NF's slow path (nat, monitor, ids); needs --pin-dir")
    arun.add_argument("--nf-option", action="append", default=[], metavar="KEY=VALUE",
                      help="an NF setting, e.g. public=198.51.100.1 (repeatable)")
    arun.add_argument("--mode", default="s6", choices=[m.value for m in Mode],
                      help="DSO mode (DESIGN.md §6; default s6)")
    arun.add_argument("--replication", default="declared",
                      choices=[r.value for r in Replicas],
                      help="backups of this agent's objects: off, async (every map "
                           "asynchronously), declared (each map as it declares; default) or "
                           "sync (every map synchronously)")
    arun.add_argument("--replicate-interval", type=float, default=0.05,
                      help="seconds between asynchronous replication passes (default 0.05)")
    arun.add_argument("--replicate-sweep", type=int, default=2048,
                      help="entries of each eBPF-backed map a replication pass reads to find "
                           "the kernel's updates (default 2048; see docs/failover.md)")
    arun.add_argument("--replicate-sweep-s", type=float, default=0.5,
                      help="seconds at least between two sweeps of an eBPF-backed map "
                           "(default 0.5): the kernel's counter updates lag at most this, or "
                           "the sweep's passes when longer")
    arun.add_argument("--netns", default=None,
                      help="network namespace of the instance's data interfaces")
    arun.add_argument("--tls-dir", type=Path, default=None,
                      help="mutual TLS with DIR/ca.crt and DIR/nf<instance>.{crt,key} "
                           "(default: [tls] dir of --config, else none)")
    arun.add_argument("-v", "--verbose", action="store_true")

    scale = sub.add_parser("scale", help="scale the NF: to N, out by one, in by one")
    scale.add_argument("how", choices=["to", "out", "in"])
    scale.add_argument("count", type=int, nargs="?")
    scale.add_argument("--controller", default=DEFAULT_CONTROLLER)
    scale.add_argument("--tls-dir", type=Path, default=None, help=_CLIENT_TLS)

    status = sub.add_parser("status", help="epoch, members, and per instance: packets by "
                                           "verdict, slow-path queue, maps, migration")
    status.add_argument("--controller", default=DEFAULT_CONTROLLER)
    status.add_argument("--json", action="store_true")
    status.add_argument("--brief", action="store_true",
                        help="the controller's view only (do not ask the agents)")
    status.add_argument("--tls-dir", type=Path, default=None, help=_CLIENT_TLS)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False)
                        else logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    return asyncio.run(_dispatch(args))


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


_CONTROLLER_DEFAULTS = {"bind": DEFAULT_CONTROLLER, "device": "127.0.0.1:9559", "device_id": 1,
                        "device_config": None, "p4info": None,
                        "state_file": Path("/var/lib/s6nf/controller.json"), "tls_dir": None}
_AGENT_DEFAULTS = {"controller": DEFAULT_CONTROLLER, "control_port": 0, "state_port": 0,
                   "buckets": DEFAULT_BUCKETS, "tls_dir": None}
_AGENT_REQUIRED = ("instance", "advertise", "port", "dmac")


def fill_from_config(args: argparse.Namespace) -> None:
    """Fill the options of ``controller run`` / ``agent run`` not given on the command line:
    from ``--config`` if given, else from the defaults; refuse a missing required one."""
    from s6nf.config import load
    from s6nf.config.roles import agent_options, controller_options

    config = None if args.config is None else load(args.config)
    if args.command == "controller":
        options = controller_options(config) if config else _CONTROLLER_DEFAULTS
    else:
        if config is not None and args.host is None:
            raise ValueError("agent run --config needs --host, the agent's nf host")
        options = agent_options(config, args.host) if config else _AGENT_DEFAULTS
    for key, value in options.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.command == "agent":
        missing = [f"--{key}" for key in _AGENT_REQUIRED if getattr(args, key) is None]
        if missing:
            raise ValueError(f"agent run needs {', '.join(missing)} (or --config and --host)")


def _options(pairs: list[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--nf-option takes KEY=VALUE, got {pair!r}")
        out.append((key, value))
    return tuple(out)


async def _dispatch(args: argparse.Namespace) -> int:
    from s6nf.rpc import JsonClient
    from s6nf.tls import load_dir

    if args.command in ("controller", "agent"):
        fill_from_config(args)

    if args.command == "controller":
        from s6nf.agent.p4rt.pipeline import DEFAULT_P4INFO
        from s6nf.controller.app import Controller, ControllerSettings
        from s6nf.controller.p4rt_client import DeviceConfig

        high, low = (int(x) for x in args.election_id.split(","))
        device = DeviceConfig(args.device, args.device_id, (high, low),
                              p4info=args.p4info or DEFAULT_P4INFO,
                              device_config=args.device_config)
        settings = ControllerSettings(args.bind, device, args.state_file,
                                      phase_timeout_s=args.phase_timeout, metrics=args.metrics,
                                      dead_after_s=args.dead_after,
                                      wedged_after_s=args.wedged_after,
                                      heartbeat_port=args.heartbeat_port,
                                      tls=load_dir(args.tls_dir, "controller"))
        async with Controller(settings) as controller:
            print(f"controller on port {controller.port} (heartbeats on "
                  f"{controller.heartbeat_port}), target {args.device}; "
                  f"state in {args.state_file}; "
                  f"{'mutual TLS' if settings.tls else 'no TLS'}", flush=True)
            await _until_signalled()
        return 0
    if args.command == "agent":
        from s6nf.agent.process import AgentProcess, AgentSettings

        settings_ = AgentSettings(args.instance, args.controller, args.advertise, args.port,
                                  args.dmac, args.control_port, args.state_port,
                                  buckets=args.buckets, schema=args.schema,
                                  metrics_port=args.metrics_port, pin_dir=args.pin_dir,
                                  nf=args.nf, nf_options=_options(args.nf_option),
                                  mode=Mode(args.mode),
                                  replicas=Replicas(args.replication),
                                  replicate_interval_s=args.replicate_interval,
                                  replicate_sweep=args.replicate_sweep,
                                  replicate_sweep_s=args.replicate_sweep_s,
                                  netns=args.netns,
                                  tls=load_dir(args.tls_dir, f"nf{args.instance}"))
        process = AgentProcess(settings_)
        task = asyncio.create_task(process.run(), name=f"agent-{args.instance}")
        await asyncio.wait([task, asyncio.create_task(_until_signalled(), name="signals")],
                           return_when=asyncio.FIRST_COMPLETED)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
        return 0
    client = JsonClient(args.controller, "s6nf.Controller", timeout_s=120.0,
                        tls=load_dir(args.tls_dir, "client"))
    try:
        if args.command == "status":
            from s6nf.cli_status import format_status

            reply = await client.call("Status", {"instances": not args.brief})
            print(json.dumps(reply, indent=1) if args.json else format_status(reply))
            return 0
        if args.how == "to" and args.count is None:
            raise ValueError("'s6nf scale to' needs a count")
        count = args.count
        if args.how != "to":
            current = len((await client.call("Status"))["load"])
            count = current + (1 if args.how == "out" else -1)
        outcome = await client.call("Scale", {"instances": count})
        for phase in outcome["phases"]:
            mark = "ok" if phase["ok"] else "FAILED"
            print(f"  {phase['name']:<9}{mark:>7} {phase['seconds'] * 1e3:8.1f} ms "
                  f"{phase['detail']}")
        print(f"epoch {outcome['epoch']}: instances {outcome['instances']}, "
              f"{outcome['moved']} buckets moved — {'done' if outcome['ok'] else 'FAILED'}")
        return 0 if outcome["ok"] else 2
    finally:
        await client.close()
