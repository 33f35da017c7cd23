"""Attaching SCHED_CLS programs at an interface's clsact egress hook with pyroute2.

The calling thread must already be in the interface's namespace (``s6nf.netns.entered``):
netlink then speaks for that namespace, and the program's fd is this process's.
"""

from __future__ import annotations

import errno

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

CLSACT_EGRESS = "ffff:fff3"


def attach_egress(ifindex: int, prog_fd: int, name: str) -> None:
    """Add a clsact qdisc (if missing) and ``prog_fd`` as a direct-action egress filter."""
    with IPRoute() as ipr:
        try:
            ipr.tc("add", "clsact", ifindex)
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise OSError(exc.code, f"add clsact qdisc on ifindex {ifindex}: {exc}") from exc
        try:
            ipr.tc("add-filter", "bpf", ifindex, ":1", fd=prog_fd, name=name,
                   parent=CLSACT_EGRESS, classid=1, direct_action=True)
        except NetlinkError as exc:
            raise OSError(exc.code, f"attach TC program {name!r} (fd {prog_fd}) at egress of "
                                    f"ifindex {ifindex}: {exc}") from exc


def detach_egress(ifindex: int) -> None:
    """Remove the clsact qdisc, and with it every filter on it; quiet when there is none."""
    with IPRoute() as ipr:
        try:
            ipr.tc("del", "clsact", ifindex)
        except NetlinkError as exc:
            if exc.code not in (errno.ENOENT, errno.EINVAL):
                what = f"delete clsact qdisc on ifindex {ifindex}: {exc}"
                raise OSError(exc.code, what) from exc


def egress_filters(ifindex: int) -> list[str]:
    """Names of the BPF programs attached at ``ifindex``'s egress."""
    with IPRoute() as ipr:
        try:
            filters = ipr.get_filters(index=ifindex, parent=CLSACT_EGRESS)
        except NetlinkError as exc:
            if exc.code in (errno.ENOENT, errno.EINVAL):
                return []
            raise
    names = []
    for f in filters:
        options = f.get_attr("TCA_OPTIONS")
        name = options.get_attr("TCA_BPF_NAME") if options is not None else None
        if name:
            names.append(str(name))
    return names
