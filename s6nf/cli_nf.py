"""``s6nf assets`` and ``s6nf alerts``: what the NFs' agents know, asked over their control
services and merged (each host's asset is homed at exactly one agent; each alert was raised
by one agent)."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from typing import Any

from s6nf.rpc import JsonClient


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    assets = sub.add_parser("assets", help="list the asset monitor's assets from its agents")
    alerts = sub.add_parser("alerts", help="the IDS's recent alerts from its agents, as JSON "
                                           "lines")
    for p in (assets, alerts):
        p.add_argument("--agent", action="append", required=True, metavar="HOST:PORT",
                       help="an agent's control service (repeat for every instance)")
    assets.add_argument("--json", action="store_true", help="print JSON instead of a table")


async def _ask(agents: Sequence[str], method: str, timeout_s: float) -> list[dict[str, Any]]:
    replies = []
    for address in agents:
        client = JsonClient(address, "s6nf.Agent", timeout_s=timeout_s)
        try:
            replies.append(await client.call(method))
        finally:
            await client.close()
    return replies


async def fetch(agents: Sequence[str], timeout_s: float = 5.0) -> dict[str, Any]:
    """{"assets": address → asset, "totals": ...} merged over ``agents``."""
    return merge_assets(await _ask(agents, "Assets", timeout_s))


def merge_assets(replies: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The agents' ``Assets`` replies as one report."""
    assets: dict[str, Any] = {}
    totals: dict[str, int] = {}
    for reply in replies:
        assets.update(reply["assets"])
        totals = reply["totals"] or totals
    return {"assets": dict(sorted(assets.items(), key=lambda kv: _sort_key(kv[0]))),
            "totals": totals}


async def fetch_alerts(agents: Sequence[str], timeout_s: float = 5.0) -> list[dict[str, Any]]:
    """Every agent's kept alerts, agent after agent (each agent's in the order raised)."""
    return merge_alerts(await _ask(agents, "Alerts", timeout_s))


def merge_alerts(replies: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [alert for reply in replies for alert in reply["alerts"]]


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
    if args.command == "alerts":
        for alert in asyncio.run(fetch_alerts(args.agent)):
            print(json.dumps(alert, sort_keys=True))
        return 0
    report = asyncio.run(fetch(args.agent))
    print(json.dumps(report, indent=1) if args.json else format_table(report))
    return 0
