"""``s6nf pki init``: a development CA and every component's certificate (docs/security.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from s6nf.tls.components import DEFAULT_INSTANCES


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pki = sub.add_parser("pki", help="certificates for the control plane's mutual TLS")
    psub = pki.add_subparsers(dest="action", required=True)
    init = psub.add_parser("init", help="make a CA (kept if DIR has one) and a certificate and "
                                        "key for the controller, the switch, each agent and "
                                        "the CLI")
    init.add_argument("--dir", type=Path, required=True, help="where to write them")
    init.add_argument("--config", type=Path, default=None,
                      help="testbed configuration: one agent per nf host, each certificate "
                           "naming the host's management address")
    init.add_argument("--instances", type=int, default=None,
                      help=f"without --config: agents nf0..nfN-1 (default {DEFAULT_INSTANCES})")
    init.add_argument("--ip", action="append", default=[],
                      help="another address every certificate names (repeatable)")
    init.add_argument("--days", type=int, default=365, help="validity (default 365)")


def run(args: argparse.Namespace) -> int:
    from s6nf.config import load
    from s6nf.tls.components import components
    from s6nf.tls.pki import init_pki

    if args.days < 1:
        raise ValueError(f"--days must be at least 1, got {args.days}")
    config = None if args.config is None else load(args.config)
    issued = init_pki(args.dir, components(config, args.instances, args.ip), args.days)
    print(f"CA and {len(issued)} certificates in {args.dir}: "
          f"{', '.join(i.name for i in issued)}")
    return 0
