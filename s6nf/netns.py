"""Entering network namespaces made with ``ip netns``-style bind mounts under /run/netns.

pyroute2's ``IPRoute(netns=…)`` covers netlink; this covers the rest: attaching XDP by
ifindex, sysctls under /proc/sys/net and starting a process inside a namespace. Python 3.11
has no ``os.setns``, so libc's is called directly.
"""

from __future__ import annotations

import ctypes as ct
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

NETNS_RUN_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000

_libc = ct.CDLL(None, use_errno=True)


def netns_path(name: str) -> Path:
    path = NETNS_RUN_DIR / name
    if not path.exists():
        raise LookupError(f"network namespace {name!r} does not exist (no {path})")
    return path


def _setns(fd: int, what: str) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ct.get_errno()
        raise OSError(err, f"setns into {what}: {os.strerror(err)}")


@contextmanager
def entered(name: str | None) -> Iterator[None]:
    """Run the body with the calling thread inside namespace ``name`` (None: stay put)."""
    if name is None:
        yield
        return
    target = os.open(netns_path(name), os.O_RDONLY)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _setns(target, name)
        try:
            yield
        finally:
            _setns(own, "the original namespace")
    finally:
        os.close(target)
        os.close(own)


def command_in(name: str, argv: list[str]) -> list[str]:
    """``argv`` wrapped so it runs inside namespace ``name``.

    The wrapper is this module run as a program: it enters the namespace and execs ``argv``.
    A ``preexec_fn`` would do it with less, but it makes subprocess fork() the parent, and a
    process that uses gRPC must not fork (its at-fork handlers abort the child).
    """
    netns_path(name)
    return [sys.executable, "-m", "s6nf.netns", name, "--", *argv]


def _exec_in(args: list[str]) -> None:
    if len(args) < 3 or args[1] != "--":
        raise SystemExit("usage: python -m s6nf.netns NAMESPACE -- COMMAND [ARGS...]")
    fd = os.open(netns_path(args[0]), os.O_RDONLY)
    _setns(fd, args[0])
    os.close(fd)
    os.execvp(args[2], args[2:])


def write_sysctl(name: str | None, key: str, value: str) -> None:
    """Set ``key`` (dotted, e.g. net.ipv6.conf.all.disable_ipv6) inside namespace ``name``."""
    with entered(name), open("/proc/sys/" + key.replace(".", "/"), "w") as f:
        f.write(value)


if __name__ == "__main__":
    _exec_in(sys.argv[1:])
