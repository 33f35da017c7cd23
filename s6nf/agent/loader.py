"""Compiling, loading, attaching and detaching s6nf's eBPF programs with bcc.

A program is compiled from ``ebpf/<name>.c`` (flattened, see ``ebpf_source``) with its sizes
as cflags; with a pin directory its maps are pinned there, and a later load with the same
directory reuses them, so an instance's state survives its agent. XDP programs' entry is
``xdp_<name>``; TC programs' (SCHED_CLS, direct action, attached at clsact egress) ``tc_<name>``.
A file may hold further entry functions of the same hook (the monitor's ``xdp_monitor_reply``):
``Program.entry(name)`` loads one from the same object, so it shares every map.
"""

from __future__ import annotations

import ctypes as ct
import os
import socket
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

from bcc import BPF

from s6nf import netns
from s6nf.agent import libbpf, tc
from s6nf.agent.bpfmap import BpfMap
from s6nf.agent.ebpf_source import flatten, source_path

K = TypeVar("K", bound=ct.Structure | ct.c_uint32 | ct.c_uint64)
V = TypeVar("V", bound=ct.Structure | ct.c_uint32 | ct.c_uint64)


class Hook(Enum):
    """Where a program runs; the value is its entry function's prefix."""

    XDP = "xdp"
    TC_EGRESS = "tc"


_DEFINE_NAMES = frozenset({"BUCKETS", "MAX_FLOWS", "MAX_PINS", "MAX_PORTS", "MAX_PHASES",
                           "THROUGHPUT_SLOTS", "MAX_PEND", "PUNT_RING_PAGES"})


def crc32_table() -> list[int]:
    """The byte-wise table of the reflected IEEE CRC-32, checked against zlib."""
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
        table.append(crc)
    if zlib.crc32(b"s6nf") != _crc_with(table, b"s6nf"):
        raise AssertionError("CRC-32 table disagrees with zlib")
    return table


def _crc_with(table: list[int], data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


@dataclass
class Program:
    """One loaded program and its bcc module (which owns the maps' fds)."""

    name: str
    bpf: Any
    fd: int
    pin_dir: Path | None
    attached: list[tuple[str | None, int]] = field(default_factory=list)
    hook: Hook = Hook.XDP

    def map(self, name: str, key_type: type[K], value_type: type[V]) -> BpfMap[K, V]:
        """A BpfMap on its own dup of the map's fd."""
        return BpfMap(os.dup(self.bpf[name.encode()].map_fd), key_type, value_type, name)

    def map_fd(self, name: str) -> int:
        """Its own dup of the fd of map ``name`` (any type, ring buffers included)."""
        return os.dup(self.bpf[name.encode()].map_fd)

    def entry(self, function: str) -> int:
        """The fd of another entry function of the same object (sharing its maps), loaded
        with this program's hook; ``nat.entry("xdp_nat_reply")``."""
        kind = BPF.XDP if self.hook is Hook.XDP else BPF.SCHED_CLS
        try:
            return int(self.bpf.load_func(function.encode(), kind).fd)
        except Exception as exc:
            if "Unknown program" not in str(exc):
                raise
            raise LookupError(f"ebpf/{self.name}.c has no entry function {function!r}") from exc

    def attach(self, ifname: str, namespace: str | None = None,
               function: str | None = None) -> int:
        """Attach the entry (or ``function``, see ``entry()``) to ``ifname`` in ``namespace``
        (XDP in native mode, TC at clsact egress); returns its ifindex."""
        fd = self.fd if function is None else self.entry(function)
        with netns.entered(namespace):
            try:
                ifindex = socket.if_nametoindex(ifname)
            except OSError as exc:
                raise LookupError(f"no interface {ifname!r} in namespace {namespace}") from exc
            if self.hook is Hook.XDP:
                libbpf.xdp_attach(ifindex, fd)
            else:
                tc.attach_egress(ifindex, fd, function or self.name)
        self.attached.append((namespace, ifindex))
        return ifindex

    def detach_all(self) -> None:
        while self.attached:
            namespace, ifindex = self.attached.pop()
            if self.hook is Hook.XDP:
                detach(ifindex, namespace)
            else:
                with netns.entered(namespace):
                    tc.detach_egress(ifindex)

    def close(self) -> None:
        """Release the loader's handles; attached programs and pinned maps stay in the kernel."""
        self.bpf.cleanup()


def detach(ifindex: int, namespace: str | None = None) -> None:
    with netns.entered(namespace):
        libbpf.xdp_detach(ifindex)


def load(program: str, pin_dir: Path | None = None,
         defines: Mapping[str, int] | None = None, hook: Hook = Hook.XDP) -> Program:
    """Compile and load ``ebpf/<program>.c``; its entry function is ``<hook>_<program>``."""
    cflags = [f"-I{source_path(program).parent}"]
    for key, value in (defines or {}).items():
        if key not in _DEFINE_NAMES:
            raise ValueError(f"unknown size {key!r} (known: {', '.join(sorted(_DEFINE_NAMES))})")
        cflags.append(f"-D{key}={int(value)}")
    if pin_dir is not None:
        pin_dir.mkdir(parents=True, exist_ok=True)
        cflags.append(f'-DPIN_DIR="{pin_dir}"')
    bpf = BPF(text=flatten(source_path(program)).encode(), cflags=cflags)
    try:
        kind = BPF.XDP if hook is Hook.XDP else BPF.SCHED_CLS
        fn = bpf.load_func(f"{hook.value}_{program}".encode(), kind)
        prog = Program(program, bpf, fn.fd, pin_dir, hook=hook)
        if _has_table(bpf, "crc32_table"):
            _fill_crc_table(prog)
    except BaseException:
        bpf.cleanup()
        raise
    return prog


def _has_table(bpf: Any, name: str) -> bool:
    try:
        bpf.get_table(name.encode())
    except KeyError:
        return False
    return True


def _fill_crc_table(prog: Program) -> None:
    with prog.map("crc32_table", ct.c_uint32, ct.c_uint32) as table:
        table.update_batch((ct.c_uint32(i), ct.c_uint32(v)) for i, v in enumerate(crc32_table()))
