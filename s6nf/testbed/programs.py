"""Loading the testbed's programs once and pinning them, and attaching pinned ones.

A program is pinned as ``prog_<program>`` in its pin directory, beside its maps; further entry
functions of the same file (``xdp_<x>``) as ``prog_<x>``. They come from one object, so they
share its maps. Later attachments open the pins and never recompile.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from s6nf import netns
from s6nf.agent import libbpf
from s6nf.agent.loader import load


def pin_name(function: str) -> str:
    """``xdp_monitor_reply`` → ``prog_monitor_reply``."""
    return "prog_" + function.split("_", 1)[1]


def pin_program(program: str, pin_dir: Path, defines: Mapping[str, int],
                functions: Sequence[str] = ()) -> None:
    """Load ``ebpf/<program>.c`` unless every pin exists, and pin its entry and each of
    ``functions`` that is not pinned yet."""
    pins = {pin_dir / f"prog_{program}": None, **{pin_dir / pin_name(f): f for f in functions}}
    if all(path.exists() for path in pins):
        return
    prog = load(program, pin_dir, defines)
    try:
        for path, function in pins.items():
            if not path.exists():
                libbpf.obj_pin(prog.fd if function is None else prog.entry(function),
                               str(path))
    finally:
        prog.close()


def attach_pinned(prog_pin: Path, namespace: str | None, ifnames: Sequence[str]) -> None:
    """Attach the pinned XDP program to each of ``ifnames`` in ``namespace`` (None: this
    process's; native mode)."""
    with pinned_fd(prog_pin) as fd, netns.entered(namespace):
        for ifname in ifnames:
            libbpf.xdp_attach(socket.if_nametoindex(ifname), fd, libbpf.XDP_FLAGS_DRV_MODE)


@contextmanager
def pinned_fd(path: Path) -> Iterator[int]:
    fd = libbpf.obj_get(str(path))
    try:
        yield fd
    finally:
        os.close(fd)
