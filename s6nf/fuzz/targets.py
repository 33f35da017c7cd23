"""What a fuzz campaign runs hostile frames through: the steering program alone, or an NF
instance — its program run by BPF_PROG_TEST_RUN and its real agent (DSO runtime, punt ring,
slow path, the NF's handler) in this process (``SimInstance``)."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Protocol

from scapy.layers.inet import TCP
from scapy.layers.l2 import Ether

from s6nf.agent.loader import Program, load
from s6nf.agent.maps import ProgramStats, SteeringMaps
from s6nf.agent.structs import FwdTarget
from s6nf.agent.test_run import XDP_REDIRECT, run_xdp
from s6nf.agent.verdicts import Reason
from s6nf.fuzz import established as est
from s6nf.keys import DEFAULT_BUCKETS
from s6nf.keyspace import initial
from s6nf.nfs.ids import IdsConfig
from s6nf.nfs.kinds import SIM_MACS, ids_kind, monitor_kind, nat_kind
from s6nf.nfs.nat import NatConfig
from s6nf.nfs.portpool import PortRange
from s6nf.nfs.rules import RuleSet
from s6nf.nfs.sim import NfKind, SimInstance

PROGRAMS = ("steer", "nat", "monitor", "ids")
IDS_RULES = (
    'alert tcp any any -> any 80 (msg:"admin page"; content:"/admin"; sid:1;)',
    'alert udp any any -> any 53 (msg:"odd query"; pcre:"/^.{0,2}\\x07example/s"; sid:2;)',
    'alert tcp any any <> any 22 (msg:"binary"; content:"|00 00|"; nocase; sid:3;)',
)
"""Rules that inspect the fuzz seeds' ports (80, 53, 22) and not the established flow's."""
DRAIN_EVERY = 64
"""Hostile frames between two reads of the punt ring."""


class Target(Protocol):
    name: str

    async def start(self) -> None: ...

    def hostile(self, direction: int, frame: bytes) -> int:
        """Run one hostile frame; the XDP action."""

    def established(self, n: int, check: est.EstablishedCheck) -> None:
        """Send the established flow's ``n``-th packet and record what became of it."""

    async def settle(self) -> None: ...

    def reasons(self) -> dict[Reason, int]: ...

    def slow_path(self) -> dict[str, int]:
        """The agent's punted packets by outcome (empty for a program without one)."""

    def nf(self) -> dict[str, int]: ...

    async def new_flow_answered(self) -> bool:
        """After the campaign: does a new flow still go through the agent and finish?"""

    async def close(self) -> None: ...


class SteerTarget:
    """Every bucket forwards to port 1 with ``STEER_MAC``."""

    name = "steer"

    def __init__(self) -> None:
        self.program: Program = load("steer")
        self._frame = est.packet(0, "A", b"data")
        self._want = est.STEER_MAC + self._frame[6:]

    async def start(self) -> None:
        with SteeringMaps.of(self.program) as maps:
            maps.apply_key_space({b: FwdTarget.of(1, est.STEER_MAC)
                                  for b in range(DEFAULT_BUCKETS)})
            maps.set_port(1, 1)

    def hostile(self, direction: int, frame: bytes) -> int:
        return run_xdp(self.program.fd, frame).action

    def established(self, n: int, check: est.EstablishedCheck) -> None:
        result = run_xdp(self.program.fd, self._frame)
        check.record(result.action == XDP_REDIRECT, result.packet, self._want)

    async def settle(self) -> None:
        return None

    def reasons(self) -> dict[Reason, int]:
        with ProgramStats.of(self.program) as stats:
            return stats.reason_counts()

    def slow_path(self) -> dict[str, int]:
        return {}

    def nf(self) -> dict[str, int]:
        return {}

    async def new_flow_answered(self) -> bool:
        return True

    async def close(self) -> None:
        self.program.close()


class NfTarget:
    """One NF instance owning every bucket, its agent attached. The established flow is
    opened with a handshake through the agent before the campaign; after that each of its
    packets must leave on the fast path, rewritten as the NF's configuration says."""

    def __init__(self, name: str, kind: NfKind) -> None:
        self.name = name
        self.sim = SimInstance(kind, 0, initial([0], DEFAULT_BUCKETS))
        self._since_drain = 0
        self._public_port = 0
        self._frames: tuple[bytes, ...] = ()
        """The established flow's packet in each direction, and what must leave for it."""
        self._wants: tuple[bytes, ...] = ()

    async def start(self) -> None:
        await self.sim.start()
        self.sim.inject(0, est.packet(0, "S"))
        await self.sim.settle()
        if self.name == "nat":
            out = [f for d, f in self.sim.outputs if d == 0]
            if not out:
                raise RuntimeError("the NAT did not translate the established flow's SYN")
            self._public_port = int(Ether(out[-1])[TCP].sport)
        self.sim.inject(1, est.packet(1, "SA", public_port=self._public_port))
        await self.sim.settle()
        self.sim.inject(0, est.packet(0, "A"))
        await self.sim.settle()
        self.sim.outputs.clear()
        self._frames = (est.packet(0, "A", b"data"),
                        est.packet(1, "A", b"ok", public_port=self._public_port))
        self._wants = tuple(self._expected(d, f) for d, f in enumerate(self._frames))

    def _expected(self, direction: int, frame: bytes) -> bytes:
        smac, dmac = SIM_MACS[direction]
        if self.name != "nat":
            return est.with_macs(frame, smac, dmac)
        if direction == 0:
            return est.translated(frame, smac, dmac,
                                  src=(est.NAT_PUBLIC, self._public_port))
        return est.translated(frame, smac, dmac, dst=(est.INSIDE, est.INSIDE_PORT))

    def hostile(self, direction: int, frame: bytes) -> int:
        action = run_xdp(self.sim.fds[direction], frame).action
        self._since_drain += 1
        if self._since_drain >= DRAIN_EVERY:
            self._since_drain = 0
            self.sim.slow.drain()
        return action

    def established(self, n: int, check: est.EstablishedCheck) -> None:
        direction = n % 2
        result = run_xdp(self.sim.fds[direction], self._frames[direction])
        check.record(result.action == XDP_REDIRECT, result.packet, self._wants[direction])

    async def settle(self) -> None:
        """Let the agent finish what was punted, forget finished episodes (the sweep the
        running agent makes every second) and drop the re-injected frames."""
        await self.sim.settle()
        self.sim.slow.sweep()
        self.sim.slow.sweep()
        self.sim.outputs.clear()

    def reasons(self) -> dict[Reason, int]:
        return self.sim.reasons()

    def slow_path(self) -> dict[str, int]:
        counts = asdict(self.sim.slow.counters)
        counts["micro_thread_failures"] = self.sim.agent.micro.failures
        return counts

    def nf(self) -> dict[str, int]:
        counters = getattr(self.sim.nf, "counters", None)
        return {} if counters is None else dict(asdict(counters))

    async def new_flow_answered(self) -> bool:
        before = self.sim.slow.counters.punted
        finished = self._finished()
        self.sim.inject(0, est.fresh_flow())
        await asyncio.wait_for(self.sim.settle(), 30.0)
        return (self.sim.slow.counters.punted == before + 1
                and self._finished() == finished + 1)

    def _finished(self) -> int:
        c = self.sim.slow.counters
        return c.reinjected + c.dropped_by_nf + c.overflowed

    async def close(self) -> None:
        await self.sim.close()


def target(name: str) -> Target:
    if name == "steer":
        return SteerTarget()
    if name == "nat":
        return NfTarget(name, nat_kind(NatConfig(est.NAT_PUBLIC, PortRange(1024, 65535))))
    if name == "monitor":
        return NfTarget(name, monitor_kind())
    if name == "ids":
        return NfTarget(name, ids_kind(IdsConfig(RuleSet.parse(list(IDS_RULES)))))
    raise ValueError(f"unknown program {name!r}; fuzz runs: {', '.join(PROGRAMS)}")
