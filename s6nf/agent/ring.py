"""Reading a BPF ring buffer through libbpf's ``ring_buffer`` API (ctypes).

``consume()`` returns every record waiting, copied out of the ring; ``fileno()`` is an epoll
fd that becomes readable when records arrive, so an asyncio loop can wait on it with
``add_reader`` instead of polling.
"""

from __future__ import annotations

import ctypes as ct
import os
from functools import cache

from s6nf.agent import libbpf

_SAMPLE_FN = ct.CFUNCTYPE(ct.c_int, ct.c_void_p, ct.c_void_p, ct.c_size_t)


@cache
def _lib() -> ct.CDLL:
    lib = libbpf.lib()
    lib.ring_buffer__new.argtypes = [ct.c_int, _SAMPLE_FN, ct.c_void_p, ct.c_void_p]
    lib.ring_buffer__new.restype = ct.c_void_p
    lib.ring_buffer__consume.argtypes = [ct.c_void_p]
    lib.ring_buffer__poll.argtypes = [ct.c_void_p, ct.c_int]
    lib.ring_buffer__epoll_fd.argtypes = [ct.c_void_p]
    lib.ring_buffer__free.argtypes = [ct.c_void_p]
    return lib


class RingReader:
    """One consumer of one ring buffer map; takes ownership of ``map_fd``."""

    def __init__(self, map_fd: int, name: str = "ring") -> None:
        self.name = name
        self._fd = map_fd
        self._batch: list[bytes] = []
        self._callback = _SAMPLE_FN(self._on_sample)
        handle = _lib().ring_buffer__new(map_fd, self._callback, None, None)
        if not handle:
            code = ct.get_errno() or 22
            os.close(map_fd)
            raise libbpf.BpfError(code, f"open ring buffer {name}: {os.strerror(code)}")
        self._ring: int | None = handle

    @classmethod
    def pinned(cls, path: str) -> RingReader:
        return cls(libbpf.obj_get(path), os.path.basename(path))

    def _on_sample(self, _ctx: int | None, data: int | None, size: int) -> int:
        self._batch.append(ct.string_at(data or 0, size))
        return 0

    def _handle(self) -> int:
        if self._ring is None:
            raise ValueError(f"ring buffer {self.name} is closed")
        return self._ring

    def consume(self) -> list[bytes]:
        """Every record available now, oldest first."""
        libbpf.check(_lib().ring_buffer__consume(self._handle()), f"consume {self.name}")
        out, self._batch = self._batch, []
        return out

    def poll(self, timeout_ms: int) -> list[bytes]:
        """Wait up to ``timeout_ms`` for records, then return those available."""
        libbpf.check(_lib().ring_buffer__poll(self._handle(), timeout_ms), f"poll {self.name}")
        out, self._batch = self._batch, []
        return out

    def fileno(self) -> int:
        return int(_lib().ring_buffer__epoll_fd(self._handle()))

    def close(self) -> None:
        if self._ring is not None:
            _lib().ring_buffer__free(self._ring)
            self._ring = None
            os.close(self._fd)

    def __enter__(self) -> RingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
