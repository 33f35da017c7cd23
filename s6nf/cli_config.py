"""``s6nf config check`` and ``s6nf config vagrant-json``: the testbed configuration."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from s6nf.config import DEFAULT_PATH, TestbedConfig, load


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cfg = sub.add_parser("config", help="the testbed configuration (testbed.toml)")
    csub = cfg.add_subparsers(dest="action", required=True)
    check = csub.add_parser("check", help="validate a configuration and summarize it")
    check.add_argument("file", type=Path, nargs="?", default=DEFAULT_PATH)
    check.add_argument("--reach", action="store_true",
                       help="also connect to the target, the controller and every agent in "
                            "use (run on the controller host once they run, before scaling)")
    check.add_argument("--instances", type=int, default=None,
                       help="with --reach: agents in use, nf0.. (default nf.instances)")
    vagrant = csub.add_parser("vagrant-json", help="the hosts and networks the Vagrantfile "
                                                  "makes, as JSON")
    vagrant.add_argument("file", type=Path, nargs="?", default=DEFAULT_PATH)


def embedded(path: Path | None) -> TestbedConfig:
    """The configuration at ``path`` (default ``testbed.toml``), checked for the embedded
    testbed."""
    from s6nf.testbed.topology import default_config, embedded_config

    return default_config() if path is None else embedded_config(load(path))


def run(args: argparse.Namespace) -> int:
    config = load(args.file)
    if args.action == "vagrant-json":
        from s6nf.config.vagrant import vagrant_hosts

        print(json.dumps(vagrant_hosts(config), indent=1))
        return 0
    roles = ", ".join(f"{h.name} ({h.role}, {h.management_ip})" for h in config.hosts)
    print(f"{args.file}: valid")
    print(f"  hosts: {roles}")
    print(f"  nf {config.nf.name}: {config.nf.instances} of {len(config.nf_hosts)} instances; "
          f"target {config.target.kind} at {config.target.address}; controller at "
          f"{config.controller_address}")
    print(f"  maps: {config.maps.buckets} buckets, {config.maps.flows} flows, "
          f"{config.maps.punt_ring_mib} MiB punt ring")
    if not args.reach:
        return 0
    from s6nf.config.reach import listeners, unreachable

    problems = unreachable(config, args.instances)
    for line in problems:
        print(f"s6nf config: {line}", file=sys.stderr)
    reached = len(listeners(config, args.instances)) - len(problems)
    print(f"  reach: {reached} of {reached + len(problems)} listeners reached from here")
    return 1 if problems else 0
