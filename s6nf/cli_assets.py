"""``s6nf assets --agent HOST:PORT ...``: the asset monitor's assets, merged from the agents'
control services (each host's asset is homed at exactly one agent)."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from typing import Any

from s6nf.rpc import JsonClient


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("assets", help="list the asset monitor's assets from its agents")
    p.add_argument("--agent", action="append", required=True, metavar="HOST:PORT",
                   help="an agent's control service (repeat for every instance)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


async def fetch(agents: Sequence[str], timeout_s: float = 5.0) -> dict[str, Any]:
    """{"assets": address → asset, "totals": ...} merged over ``agents``."""
    assets: dict[str, Any] = {}
    totals: dict[str, int] = {}
    for address in agents:
        client = JsonClient(address, "s6nf.Agent", timeout_s=timeout_s)
        try:
            reply = await client.call("Assets")
        finally:
            await client.close()
        assets.update(reply["assets"])
        totals = reply["totals"] or totals
    return {"assets": dict(sorted(assets.items(), key=lambda kv: _sort_key(kv[0]))),
            "totals": totals}


def _sort_key(address: str) -> tuple[int, ...]:
    return tuple(int(part) for part in address.split("."))


def format_table(report: dict[str, Any]) -> str:
    lines = [f"{'address':<16}{'os':<24}{'flows':>6}  services"]
    for address, a in report["assets"].items():
        services = ", ".join(f"{name} ({n})" for name, n in sorted(a["services"].items()))
        lines.append(f"{address:<16}{a['os'] or '-':<24}{a['flows']:>6}  {services or '-'}")
    totals = ", ".join(f"{k} {v}" for k, v in sorted(report["totals"].items()))
    lines.append(f"{len(report['assets'])} assets; {totals or 'no flows yet'}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    report = asyncio.run(fetch(args.agent))
    print(json.dumps(report, indent=1) if args.json else format_table(report))
    return 0
