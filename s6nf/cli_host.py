"""``s6nf host up|down|units``: one VM's or server's part, from the configuration.

``up`` loads the host's data path on its own NICs (``s6nf.testbed.host_datapath``, as the
embedded testbed does in each namespace); ``down`` detaches it and removes its pins; ``units``
writes the systemd units that run the host's part (``s6nf.config.units``).
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sys
from pathlib import Path

from s6nf.config import TestbedConfig, load
from s6nf.config import units as unit_files


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    host = sub.add_parser("host", help="one VM's or server's part: its data path, its units")
    hsub = host.add_subparsers(dest="action", required=True)
    for name, text in (("up", "load this host's XDP programs on its data interfaces"),
                       ("down", "detach them and remove their pins"),
                       ("units", "write the systemd units that run this host's part")):
        p = hsub.add_parser(name, help=text)
        p.add_argument("--config", type=Path, required=True, help="the testbed configuration")
        p.add_argument("--host", required=True, help="this host's name in it")
        p.add_argument("--instances", type=int, default=None,
                       help="nf hosts in use, nf0.. (default: nf.instances of the file)")
    for name in ("up", "down"):
        hsub.choices[name].add_argument(
            "--pin-root", type=Path, default=unit_files.PIN_ROOT,
            help=f"pin the programs and maps under DIR/HOST (default {unit_files.PIN_ROOT})")
    units = hsub.choices["units"]
    units.add_argument("--out", type=Path, required=True, help="directory to write them to")
    units.add_argument("--target", default=None,
                       help="bmv2 or ebpf instead of the file's target.kind")
    units.add_argument("--s6nf", default=str(Path(sys.executable).parent / "s6nf"),
                       help="the s6nf command the units run (default: this one)")


def run(args: argparse.Namespace) -> int:
    config = load(args.config)
    instances = _instances(config, args.instances)
    if args.action == "units":
        root = args.config.resolve().parent
        if args.target is not None:
            config = unit_files.with_target(config, args.target, root)
        args.out.mkdir(parents=True, exist_ok=True)
        made = unit_files.units(config, args.host, s6nf=args.s6nf,
                                config_path=args.config.resolve(), workdir=root,
                                instances=instances)
        for name, text in made.items():
            (args.out / name).write_text(text)
        print(" ".join(made))
        return 0
    from s6nf.testbed import host_datapath

    role = config.host(args.host).role
    pins = args.pin_root / args.host
    if args.action == "down":
        from s6nf.agent import libbpf

        for ifname in host_datapath.data_interfaces(config, args.host, range(instances)):
            libbpf.xdp_detach(socket.if_nametoindex(ifname))
        shutil.rmtree(pins, ignore_errors=True)
        print(f"{args.host}: data path detached, {pins} removed")
        return 0
    sizes = host_datapath.defines(config)
    if role == "switch":
        host_datapath.switch_host(config, pins, None, sizes, range(instances))
    elif role == "nf":
        host_datapath.nf_host(config, args.host, config.nf.name, pins, None, sizes)
    elif role == "sink":
        host_datapath.sink_host(config, pins, None, sizes, range(instances))
    else:
        print(f"{args.host} ({role}): no data path to load")
        return 0
    print(f"{args.host} ({role}): data path loaded, pinned under {pins}")
    return 0


def _instances(config: TestbedConfig, given: int | None) -> int:
    count = config.nf.instances if given is None else given
    if not 1 <= count <= len(config.nf_hosts):
        raise ValueError(f"--instances {count}: between 1 and the {len(config.nf_hosts)} nf "
                         "hosts of the configuration")
    return count
