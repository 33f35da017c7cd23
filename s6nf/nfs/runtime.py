"""An agent's NF at run time: the NF's schema over the instance's pinned maps, its slow path
fed by the punt ring, re-injection by AF_PACKET, and its maintenance task (e.g. expiry)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes as ct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from s6nf.agent.bpfmap import BpfMap
from s6nf.agent.dso import DsoAgent, Schema
from s6nf.agent.punt import DIRECTIONS, PuntPath
from s6nf.agent.structs import NfConfig
from s6nf.nfs.emitter import PacketEmitter, interface_names
from s6nf.nfs.nat import NatConfig
from s6nf.nfs.portpool import PortRange
from s6nf.nfs.sim import NfKind
from s6nf.nfs.slowpath import SlowPath


def kind_of(name: str, options: Mapping[str, str]) -> NfKind:
    """The NF called ``name`` configured by ``options`` (``key=value`` pairs from the CLI)."""
    if name == "nat":
        return _nat(options)
    if name == "monitor":
        _only(name, options, set())
        from s6nf.nfs.kinds import monitor_kind

        return monitor_kind()
    if name == "ids":
        return _ids(options)
    raise ValueError(f"unknown NF {name!r}; this agent runs: nat, monitor, ids")


def _only(name: str, options: Mapping[str, str], known: set[str]) -> None:
    unknown = set(options) - known
    if unknown:
        raise ValueError(f"unknown {name} options {sorted(unknown)}; known: {sorted(known)}")


def _nat(options: Mapping[str, str]) -> NfKind:
    from s6nf.nfs.kinds import nat_kind

    _only("NAT", options, {"public", "ports", "idle_timeout_s", "close_linger_s"})
    if "public" not in options:
        raise ValueError("the NAT needs public=ADDRESS")
    first, _, last = options.get("ports", "1024-65535").partition("-")
    try:
        ports = PortRange(int(first), int(last or first))
        return nat_kind(NatConfig(options["public"], ports,
                                  float(options.get("idle_timeout_s", 60.0)),
                                  float(options.get("close_linger_s", 2.0))))
    except ValueError as exc:
        raise ValueError(f"NAT options: {exc}") from None


def _ids(options: Mapping[str, str]) -> NfKind:
    """rules=FILE (required), whitelist=A,B,..., scan_threshold=N, scan_window_s=S,
    inspect_all=1."""
    from s6nf.nfs.ids import IdsConfig
    from s6nf.nfs.kinds import ids_kind
    from s6nf.nfs.rules import RuleSet

    _only("IDS", options, {"rules", "whitelist", "scan_threshold", "scan_window_s",
                           "inspect_all"})
    if "rules" not in options:
        raise ValueError("the IDS needs rules=FILE (docs/nfs.md describes the format)")
    rules = RuleSet.load(Path(options["rules"]))
    whitelist = tuple(a for a in options.get("whitelist", "").split(",") if a)
    try:
        config = IdsConfig(rules, whitelist, int(options.get("scan_threshold", 20)),
                           float(options.get("scan_window_s", 10.0)),
                           options.get("inspect_all", "0") not in ("", "0", "false", "no"))
    except ValueError as exc:
        raise ValueError(f"IDS options: {exc}") from None
    return ids_kind(config)


def egress_ifindexes(pin_dir: Path) -> dict[int, int]:
    """direction → ifindex its fast path redirects to, from the program's ``nf_config``."""
    out = {}
    with BpfMap.pinned(str(pin_dir / "nf_config"), ct.c_uint32, NfConfig) as config:
        for direction in range(min(DIRECTIONS, config.max_entries)):
            entry = config.lookup(ct.c_uint32(direction))
            if entry is not None and entry.out_ifindex:
                out[direction] = int(entry.out_ifindex)
    if not out:
        raise LookupError(f"the NF at {pin_dir} has no configured egress (nf_config is empty)")
    return out


class NfRuntime:
    def __init__(self, kind: NfKind, pin_dir: Path, namespace: str | None) -> None:
        self.kind = kind
        self.pin_dir = pin_dir
        self.namespace = namespace
        self.schema: Schema = kind.schema(pin_dir)
        self.nf: Any = None
        self.slow: SlowPath | None = None
        self._emitter: PacketEmitter | None = None
        self._punt: PuntPath | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def reinjection_dropped(self) -> int:
        """Re-injected frames the socket's full send queue refused (counted drops)."""
        return 0 if self._emitter is None else self._emitter.dropped

    def start(self, agent: DsoAgent) -> None:
        handler, self.nf = self.kind.handler(agent, self.pin_dir)
        names = interface_names(egress_ifindexes(self.pin_dir), self.namespace)
        self._emitter = PacketEmitter(names, self.namespace)
        self._punt = PuntPath.pinned(self.pin_dir)
        self.slow = SlowPath(self._punt, agent.micro, handler, self._emitter,
                             batch=getattr(self.nf, "handle_batch", None),
                             handoff=agent.handoff_wait)
        agent.set_handoff_listener(self.slow)
        loop = asyncio.get_running_loop()
        self.slow.start(loop)
        self.slow.drain()
        self._tasks.append(loop.create_task(self._sweep_forever(), name="punt-sweep"))
        maintain = getattr(self.nf, "maintain", None)
        if maintain is not None:
            self._tasks.append(loop.create_task(maintain(), name="nf-maintenance"))

    async def _sweep_forever(self, interval_s: float = 1.0) -> None:
        while True:
            await asyncio.sleep(interval_s)
            if self.slow is not None:
                self.slow.sweep()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.slow is not None:
            self.slow.stop(asyncio.get_running_loop())
        if self._punt is not None:
            self._punt.close()
        if self._emitter is not None:
            self._emitter.close()
