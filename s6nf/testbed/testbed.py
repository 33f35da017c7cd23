"""Bringing the embedded testbed up and down with pyroute2, and loading its programs.

What ``up`` makes is recorded in a state file, so ``down`` removes exactly that and nothing
else. Programs and maps are pinned under ``/sys/fs/bpf/s6nf/<name>/<host>/`` so they outlive
the process that loaded them.

Every instance runs its NF's reply entry on ``nf<i>:out`` (idle while nothing comes back).
With ``reflect`` the sink sends every packet back as its reply, and the rest of the way back
is wired first: the uplink program on ``sw:nf<i>`` and a second sink program on ``gen``'s
interface that counts and measures the replies. Every hop a packet is
redirected into has an XDP program on its receiving end: a veth drops redirected frames
otherwise, which only the redirecting interface's drop counter shows.
"""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pyroute2 import IPRoute
from pyroute2 import netns as pyroute2_netns

from s6nf import netns
from s6nf.agent import libbpf, tc
from s6nf.agent.loader import Hook, load
from s6nf.agent.maps import FlowTable, SinkCounters, SteeringMaps, UplinkMaps
from s6nf.agent.structs import FwdAction, FwdTarget, NfDirection, mac_bytes
from s6nf.config import TestbedConfig
from s6nf.keys import DEFAULT_BUCKETS
from s6nf.keyspace import KeySpace, initial, rebalance
from s6nf.nfs.ids_maps import IdsTables
from s6nf.nfs.nat_maps import NatTables
from s6nf.testbed import management
from s6nf.testbed.programs import attach_pinned, pin_name, pin_program, pinned_fd
from s6nf.testbed.topology import (
    Endpoint,
    Link,
    Topology,
    default_config,
    embedded,
    gen_link,
    instance_host,
    instance_links,
    port_of,
)

BPFFS = Path("/sys/fs/bpf")
STATE_DIR = Path("/run/s6nf")
NF_PROGRAM = "monitor"
REPLY_ENTRIES = {"monitor": "xdp_monitor_reply", "nat": "xdp_nat_reply", "ids": "xdp_ids_reply"}
"""NF programs' second XDP entry, for replies, attached on the instance's "out" link (idle
until the sink reflects)."""


class TestbedError(RuntimeError):
    """The testbed cannot do what was asked; the message says why and what to do."""

    __test__ = False


@dataclass
class TestbedState:
    name: str
    instances: list[int]
    namespaces: list[str]
    management: bool = False
    """Whether the hosts are connected by the management network (``management.py``)."""
    reflect: bool = False
    """Whether the reply path is wired and the sink reflects every packet back to gen."""

    @property
    def path(self) -> Path:
        return STATE_DIR / f"{self.name}.json"

    def save(self) -> None:
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.__dict__, indent=1) + "\n")

    @classmethod
    def load(cls, name: str) -> TestbedState | None:
        path = STATE_DIR / f"{name}.json"
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return cls(data["name"], list(data["instances"]), list(data["namespaces"]),
                   bool(data.get("management", False)), bool(data.get("reflect", False)))


class Testbed:
    """One named embedded testbed."""

    __test__ = False

    def __init__(self, name: str = "s6nf", buckets: int = DEFAULT_BUCKETS,
                 config: TestbedConfig | None = None, management: bool = False) -> None:
        self.name = name
        self.buckets = buckets
        self.config = config or default_config()
        """Hosts, addresses and MACs (``testbed.toml`` unless given)."""
        self.management = management
        """Whether a new testbed gets the management network and the controller's host."""
        self.pin_root = BPFFS / "s6nf" / name
        self.nf = self.config.nf.name
        """The NF program every instance runs (``[nf] name`` of the configuration)."""

    @property
    def state(self) -> TestbedState | None:
        return TestbedState.load(self.name)

    def topology(self) -> Topology:
        state = self.state
        if state is None:
            raise TestbedError(f"testbed {self.name!r} is not up: run 's6nf testbed up'")
        return embedded(self.name, config=self.config, instances=state.instances)

    def namespace(self, host: str) -> str:
        return f"{self.name}-{host}"

    def pin_dir(self, host: str) -> Path:
        return self.pin_root / host

    @property
    def returns_pin_dir(self) -> Path:
        """The maps of the sink program at gen, which counts and measures the replies (its own
        directory: the stamper pins its ``stats`` under gen's)."""
        return self.pin_dir("gen") / "sink"

    @property
    def uplink_pin_dir(self) -> Path:
        """The maps of the steering host's reply program (apart from steer's ``stats``)."""
        return self.pin_dir("sw") / "uplink"

    # -- up ---------------------------------------------------------------------------------

    def up(self, instances: int, steer: bool = True, reflect: bool | None = None) -> Topology:
        """Make sure the testbed runs instances nf0..nf<instances-1>; idempotent.

        With ``steer`` the testbed deals the buckets over the instances itself; without it
        steering is left to the controller (over P4Runtime). ``reflect`` True wires the reply
        path and has the sink send every packet back to gen; False has the sink consume them
        again (the reply path stays wired, idle); None keeps what the testbed does (one-way
        for a new one)."""
        if instances < 1:
            raise TestbedError(f"a testbed needs at least one NF instance, got {instances}")
        if not _bpffs_mounted():
            raise TestbedError("bpffs is not mounted at /sys/fs/bpf: run 'make setup' as root")
        wanted = list(range(instances))
        state = self.state
        if state is not None and self.management and not state.management:
            raise TestbedError(f"testbed {self.name!r} is up without a management network; "
                               "take it down first to add one")
        if state is None:
            state = TestbedState(self.name, [], [], self.management)
            for host in ("gen", "sw", "sink"):
                self._make_namespace(state, host)
            if state.management:
                self._make_management(state)
            self._make_link(state, gen_link(self.config))
            self._load("steer", "sw", ["gen"])
        for i in sorted(set(wanted) - set(state.instances)):
            self.add_instance(i, state)
        for i in sorted(set(state.instances) - set(wanted), reverse=True):
            self.remove_instance(i, state, steer)
        if reflect is not None:
            self.set_reflect(reflect, state)
        if steer:
            self.steer(state.instances)
        return embedded(self.name, config=self.config, instances=state.instances)

    def add_instance(self, instance: int, state: TestbedState | None = None) -> None:
        """Add nf<instance> with its links and program; steering is not changed."""
        state = state or self.state
        if state is None:
            raise TestbedError(f"testbed {self.name!r} is not up")
        if instance in state.instances:
            return
        topo = embedded(self.name, config=self.config, instances=[*state.instances, instance])
        host = instance_host(instance)
        self._make_namespace(state, host)
        if state.management:
            management.attach(self.config, host, self.namespace(management.BRIDGE_HOST),
                              self.namespace(host))
        to_nf, to_sink = (link for link in topo.links if host in (link.a.host, link.b.host))
        self._make_link(state, to_nf)
        self._make_link(state, to_sink)
        reply = REPLY_ENTRIES.get(self.nf)
        self._load(self.nf, host, ["in"], functions=[reply] if reply else [])
        if reply is not None:
            attach_pinned(self.pin_dir(host) / pin_name(reply), self.namespace(host),
                          [to_sink.a.ifname])
        self._load("sink", "sink", [host])
        out_ifindex = self._ifindex(topo, to_sink.a)
        out_macs = mac_bytes(to_sink.a.mac), mac_bytes(to_sink.b.mac)
        back_ifindex = self._ifindex(topo, to_nf.b)
        back_macs = mac_bytes(to_nf.b.mac), mac_bytes(to_nf.a.mac)
        if self.nf in ("nat", "ids"):
            family = NatTables if self.nf == "nat" else IdsTables
            with family.pinned(self.pin_dir(host)) as nf:
                nf.configure(NfDirection.FORWARD, out_ifindex, *out_macs)
                nf.configure(NfDirection.REPLY, back_ifindex, *back_macs)
        else:
            with FlowTable.pinned(self.pin_dir(host)) as table:
                table.configure(out_ifindex, *out_macs)
                table.configure(back_ifindex, *back_macs, NfDirection.REPLY)
        if state.reflect:
            self._wire_instance_replies(topo, instance)
        with SteeringMaps.pinned(self.pin_dir("sw")) as steering:
            steering.set_port(port_of(instance), self._ifindex(topo, to_nf.a))
        state.instances.append(instance)
        state.instances.sort()
        state.save()

    def remove_instance(self, instance: int, state: TestbedState | None = None,
                        steer: bool = True) -> None:
        """Steer nf<instance>'s buckets elsewhere (unless the controller steers), then remove
        its namespace and pins."""
        state = state or self.state
        if state is None or instance not in state.instances:
            return
        rest = [i for i in state.instances if i != instance]
        if not rest:
            raise TestbedError("cannot remove the last NF instance; use 'testbed down'")
        if steer:
            self.steer(rest)
        with SteeringMaps.pinned(self.pin_dir("sw")) as steering:
            steering.clear_port(port_of(instance))
        ns = f"{self.name}-{instance_host(instance)}"
        if ns in pyroute2_netns.listnetns():
            pyroute2_netns.remove(ns)
        shutil.rmtree(self.pin_dir(instance_host(instance)), ignore_errors=True)
        state.namespaces.remove(ns)
        state.instances.remove(instance)
        state.save()

    # -- replies ----------------------------------------------------------------------------

    def set_reflect(self, reflect: bool, state: TestbedState | None = None) -> None:
        """Have the sink send every packet back to gen (wiring the reply path first) or
        consume it; idempotent."""
        state = state or self.state
        if state is None:
            raise TestbedError(f"testbed {self.name!r} is not up: run 's6nf testbed up'")
        if reflect:
            topo = embedded(self.name, config=self.config, instances=state.instances)
            self._wire_replies(topo)
        with SinkCounters.pinned(self.pin_dir("sink")) as sink:
            sink.set_reflect(reflect)
        state.reflect = reflect
        state.save()

    def _wire_replies(self, topo: Topology) -> None:
        """gen's sink on its interface, the uplink towards it, then every instance's hops."""
        gen = gen_link(self.config)
        self._load("sink", "gen", [gen.a.ifname], self.returns_pin_dir)
        self._load("uplink", "sw", [], self.uplink_pin_dir)
        with UplinkMaps.pinned(self.uplink_pin_dir) as uplink:
            uplink.configure(self._ifindex(topo, gen.b), mac_bytes(gen.b.mac),
                             mac_bytes(gen.a.mac))
        for i in topo.instances:
            self._wire_instance_replies(topo, i)

    def _wire_instance_replies(self, topo: Topology, instance: int) -> None:
        """The uplink on sw's link to the instance (its reply entry is on "out" already)."""
        to_nf, _ = instance_links(instance, self.config)
        attach_pinned(self.uplink_pin_dir / "prog_uplink", self.namespace("sw"),
                      [to_nf.a.ifname])

    # -- steering ---------------------------------------------------------------------------

    def current_key_space(self) -> KeySpace | None:
        """The key space the steering maps hold, or None where a bucket has no owner."""
        with SteeringMaps.pinned(self.pin_dir("sw")) as steering:
            targets = steering.key_space()
        if any(t.action != FwdAction.FORWARD for t in targets):
            return None
        return KeySpace(0, tuple(t.port - 1 for t in targets))

    def steer(self, instances: Iterable[int]) -> KeySpace:
        """Deal the buckets over ``instances``, moving as few as even load allows."""
        ids = sorted(instances)
        current = self.current_key_space()
        nxt = initial(ids, self.buckets) if current is None else rebalance(current, ids)
        topo = embedded(self.name, config=self.config, instances=ids)
        macs = {i: mac_bytes(topo.endpoint(instance_host(i), "in").mac) for i in ids}
        changed = {b: FwdTarget.of(port_of(o), macs[o]) for b, o in enumerate(nxt.owners)
                   if current is None or current.owners[b] != o}
        with SteeringMaps.pinned(self.pin_dir("sw")) as steering:
            steering.apply_key_space(changed)
        return nxt

    # -- measurement ------------------------------------------------------------------------

    def attach_stamper(self) -> None:
        """Stamp send times at gen's egress (TC); idempotent. ``down`` removes it."""
        self.topology()
        prog_pin = self.pin_dir("gen") / "prog_stamp"
        if not prog_pin.exists():
            prog = load("stamp", self.pin_dir("gen"), hook=Hook.TC_EGRESS)
            try:
                libbpf.obj_pin(prog.fd, str(prog_pin))
            finally:
                prog.close()
        with pinned_fd(prog_pin) as fd, netns.entered(f"{self.name}-gen"):
            ifindex = socket.if_nametoindex(gen_link(self.config).a.ifname)
            if "stamp" not in tc.egress_filters(ifindex):
                tc.attach_egress(ifindex, fd, "stamp")

    def detach_stamper(self) -> None:
        with netns.entered(f"{self.name}-gen"):
            tc.detach_egress(socket.if_nametoindex(gen_link(self.config).a.ifname))

    def stamping(self) -> bool:
        with netns.entered(f"{self.name}-gen"):
            ifindex = socket.if_nametoindex(gen_link(self.config).a.ifname)
            return "stamp" in tc.egress_filters(ifindex)

    # -- down -------------------------------------------------------------------------------

    def down(self) -> list[str]:
        """Remove every namespace and pin this testbed made; returns what was removed."""
        state = self.state
        if state is None:
            return []
        present = set(pyroute2_netns.listnetns())
        removed = []
        for ns in state.namespaces:
            if ns in present:
                pyroute2_netns.remove(ns)
                removed.append(ns)
        shutil.rmtree(self.pin_root, ignore_errors=True)
        if self.pin_root.parent.is_dir() and not any(self.pin_root.parent.iterdir()):
            self.pin_root.parent.rmdir()
        state.path.unlink(missing_ok=True)
        return removed

    # -- helpers ----------------------------------------------------------------------------

    def _make_namespace(self, state: TestbedState, host: str) -> None:
        ns = f"{self.name}-{host}"
        if ns in pyroute2_netns.listnetns():
            if ns not in state.namespaces:
                raise TestbedError(f"network namespace {ns} exists but was not made by testbed "
                                   f"{self.name!r}; remove it or choose another --name")
            return
        pyroute2_netns.create(ns)
        state.namespaces.append(ns)
        state.save()
        netns.write_sysctl(ns, "net.ipv6.conf.all.disable_ipv6", "1")
        netns.write_sysctl(ns, "net.ipv6.conf.default.disable_ipv6", "1")
        with IPRoute(netns=ns) as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")

    def _make_management(self, state: TestbedState) -> None:
        """The bridge's namespace, the controller's, and gen, sw and sink on the bridge."""
        controller = self.config.controller.host
        self._make_namespace(state, management.BRIDGE_HOST)
        self._make_namespace(state, controller)
        management.make_bridge(self.namespace(management.BRIDGE_HOST))
        for host in (controller, "gen", "sw", "sink"):
            management.attach(self.config, host, self.namespace(management.BRIDGE_HOST),
                              self.namespace(host))

    def _make_link(self, state: TestbedState, link: Link) -> None:
        ns_a, ns_b = f"{self.name}-{link.a.host}", f"{self.name}-{link.b.host}"
        with IPRoute(netns=ns_a) as ipr:
            if not ipr.link_lookup(ifname=link.a.ifname):
                ipr.link("add", ifname=link.a.ifname, kind="veth",
                         peer={"ifname": link.b.ifname, "net_ns_fd": ns_b})
        for end, ns in ((link.a, ns_a), (link.b, ns_b)):
            _configure(ns, end)

    def _ifindex(self, topo: Topology, end: Endpoint) -> int:
        with netns.entered(topo.namespace(end.host)):
            return socket.if_nametoindex(end.ifname)

    def _load(self, program: str, host: str, ifnames: list[str],
              pin_dir: Path | None = None, functions: Sequence[str] = ()) -> None:
        """Attach ``program`` (loaded once per pin directory, by default the host's, and
        pinned with its further entry ``functions``) to ``ifnames`` on ``host``."""
        pin_dir = pin_dir or self.pin_dir(host)
        pin_program(program, pin_dir, {"BUCKETS": self.buckets,
                                       "MAX_FLOWS": self.config.maps.flows,
                                       "PUNT_RING_PAGES": self.config.maps.punt_ring_pages},
                    functions)
        attach_pinned(pin_dir / f"prog_{program}", self.namespace(host), ifnames)


def _configure(ns: str, end: Endpoint) -> None:
    address, prefix = end.address.split("/")
    with IPRoute(netns=ns) as ipr:
        index = ipr.link_lookup(ifname=end.ifname)[0]
        ipr.link("set", index=index, address=end.mac)
        if not any(a.get_attr("IFA_ADDRESS") == address for a in ipr.get_addr(index=index)):
            ipr.addr("add", index=index, address=address, prefixlen=int(prefix))
        ipr.link("set", index=index, state="up")


def _bpffs_mounted() -> bool:
    with open("/proc/mounts") as mounts:
        return any(line.split()[1:3] == ["/sys/fs/bpf", "bpf"] for line in mounts)
