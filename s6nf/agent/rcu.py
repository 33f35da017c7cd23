"""Waiting from user space until every XDP program run that started earlier has finished.

XDP programs run inside RCU read-side critical sections; ``membarrier(MEMBARRIER_CMD_GLOBAL)``
returns only after an RCU grace period (the kernel implements it with synchronize_rcu), so
after it no packet can still be reading a table copy that was deactivated before the call.
"""

from __future__ import annotations

import ctypes as ct
import os
import platform

MEMBARRIER_CMD_GLOBAL = 1
_SYSCALL = {"x86_64": 324, "aarch64": 283, "arm64": 283}

_libc = ct.CDLL(None, use_errno=True)


def synchronize() -> None:
    """Block until an RCU grace period has passed."""
    number = _SYSCALL.get(platform.machine())
    if number is None:
        raise OSError(f"membarrier syscall number unknown for {platform.machine()}")
    if _libc.syscall(number, MEMBARRIER_CMD_GLOBAL, 0, 0) != 0:
        err = ct.get_errno()
        raise OSError(err, f"membarrier(MEMBARRIER_CMD_GLOBAL): {os.strerror(err)}")
