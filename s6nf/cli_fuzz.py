"""``s6nf fuzz``: hostile frames through the steering and NF programs and the NFs' slow
paths, every frame accounted for (docs/hostile-input.md). Needs root."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from pathlib import Path

from s6nf.fuzz.targets import PROGRAMS


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fuzz = sub.add_parser("fuzz", help="a fuzz campaign through the programs and slow paths "
                                       "(root)")
    fuzz.add_argument("--program", action="append", choices=[*PROGRAMS, "all"],
                      help="steer, nat, monitor, ids or all (repeatable; default all)")
    fuzz.add_argument("--frames", type=int, default=1_000_000,
                      help="hostile frames per program (default 1,000,000)")
    fuzz.add_argument("--seed", type=int, default=1)
    fuzz.add_argument("--every", type=int, default=10,
                      help="an established packet after every N hostile frames (default 10)")
    fuzz.add_argument("--json", type=Path, help="also write the results to this file")
    fuzz.add_argument("-v", "--verbose", action="store_true",
                      help="log the NFs' warnings and alerts (the table counts them anyway)")


def run(args: argparse.Namespace) -> int:
    from s6nf.fuzz.campaign import run_campaign
    from s6nf.fuzz.report import format_result

    if args.frames < 1 or args.every < 1:
        raise ValueError(f"--frames and --every must be at least 1, got {args.frames} and "
                         f"{args.every}")
    logging.basicConfig(level=logging.WARNING if args.verbose else logging.ERROR,
                        format="%(asctime)s %(name)s %(message)s")
    chosen = args.program or ["all"]
    programs = list(PROGRAMS) if "all" in chosen else list(dict.fromkeys(chosen))
    results = []
    for program in programs:
        result = asyncio.run(run_campaign(program, args.seed, args.frames, args.every))
        print(format_result(result), flush=True)
        results.append(result)
    if args.json is not None:
        args.json.write_text(json.dumps([r.to_json() for r in results], indent=1) + "\n")
    failed = [r.program for r in results if not r.ok]
    if failed:
        print(f"FAILED: {', '.join(failed)}")
    return 1 if failed else 0
