"""ctypes bindings to the system libbpf (installed with bcc) for what bcc's tables lack:
opening pinned maps without recompiling, batch map operations, XDP attach by ifindex and
BPF_PROG_TEST_RUN. Every call raises ``BpfError`` naming the operation and errno."""

from __future__ import annotations

import ctypes as ct
import ctypes.util
import errno
import os
from functools import cache
from typing import Any

XDP_FLAGS_UPDATE_IF_NOEXIST = 1 << 0
XDP_FLAGS_DRV_MODE = 1 << 2

BPF_ANY = 0
BPF_NOEXIST = 1
BPF_EXIST = 2


class BpfError(OSError):
    """A libbpf call failed; ``errno`` holds the reason."""


class BpfMapInfo(ct.Structure):
    _fields_ = [
        ("type", ct.c_uint32),
        ("id", ct.c_uint32),
        ("key_size", ct.c_uint32),
        ("value_size", ct.c_uint32),
        ("max_entries", ct.c_uint32),
        ("map_flags", ct.c_uint32),
        ("name", ct.c_char * 16),
        ("_rest", ct.c_uint8 * 128),
    ]


class BpfMapBatchOpts(ct.Structure):
    _fields_ = [
        ("sz", ct.c_size_t),
        ("elem_flags", ct.c_uint64),
        ("flags", ct.c_uint64),
    ]


class BpfTestRunOpts(ct.Structure):
    _fields_ = [
        ("sz", ct.c_size_t),
        ("data_in", ct.c_void_p),
        ("data_out", ct.c_void_p),
        ("data_size_in", ct.c_uint32),
        ("data_size_out", ct.c_uint32),
        ("ctx_in", ct.c_void_p),
        ("ctx_out", ct.c_void_p),
        ("ctx_size_in", ct.c_uint32),
        ("ctx_size_out", ct.c_uint32),
        ("retval", ct.c_uint32),
        ("repeat", ct.c_int),
        ("duration", ct.c_uint32),
        ("flags", ct.c_uint32),
        ("cpu", ct.c_uint32),
        ("batch_size", ct.c_uint32),
    ]


@cache
def lib() -> ct.CDLL:
    path = ctypes.util.find_library("bpf") or "libbpf.so.1"
    try:
        handle = ct.CDLL(path, use_errno=True)
    except OSError as exc:
        raise BpfError(errno.ENOENT, f"cannot load libbpf ({path}): install python3-bpfcc") from exc
    handle.bpf_obj_get.argtypes = [ct.c_char_p]
    handle.bpf_obj_pin.argtypes = [ct.c_int, ct.c_char_p]
    handle.bpf_map_lookup_elem.argtypes = [ct.c_int, ct.c_void_p, ct.c_void_p]
    handle.bpf_map_get_next_key.argtypes = [ct.c_int, ct.c_void_p, ct.c_void_p]
    handle.bpf_map_delete_elem.argtypes = [ct.c_int, ct.c_void_p]
    handle.bpf_map_lookup_and_delete_elem.argtypes = [ct.c_int, ct.c_void_p, ct.c_void_p]
    handle.bpf_map_update_elem.argtypes = [ct.c_int, ct.c_void_p, ct.c_void_p, ct.c_uint64]
    batch: list[Any] = [ct.c_int, ct.c_void_p, ct.c_void_p, ct.c_void_p, ct.c_void_p,
             ct.POINTER(ct.c_uint32), ct.POINTER(BpfMapBatchOpts)]
    handle.bpf_map_lookup_batch.argtypes = batch
    handle.bpf_map_lookup_and_delete_batch.argtypes = batch
    handle.bpf_map_update_batch.argtypes = [ct.c_int, ct.c_void_p, ct.c_void_p,
                                            ct.POINTER(ct.c_uint32), ct.POINTER(BpfMapBatchOpts)]
    handle.bpf_map_delete_batch.argtypes = [ct.c_int, ct.c_void_p, ct.POINTER(ct.c_uint32),
                                            ct.POINTER(BpfMapBatchOpts)]
    handle.bpf_obj_get_info_by_fd.argtypes = [ct.c_int, ct.c_void_p, ct.POINTER(ct.c_uint32)]
    handle.bpf_prog_test_run_opts.argtypes = [ct.c_int, ct.POINTER(BpfTestRunOpts)]
    handle.bpf_xdp_attach.argtypes = [ct.c_int, ct.c_int, ct.c_uint32, ct.c_void_p]
    handle.bpf_xdp_detach.argtypes = [ct.c_int, ct.c_uint32, ct.c_void_p]
    handle.bpf_xdp_query_id.argtypes = [ct.c_int, ct.c_int, ct.POINTER(ct.c_uint32)]
    return handle


def check(ret: int, what: str) -> int:
    """libbpf returns -errno (and sets errno); turn a failure into BpfError."""
    if ret < 0:
        code = -ret if ret != -1 else ct.get_errno()
        raise BpfError(code, f"{what}: {os.strerror(code)}")
    return ret


@cache
def possible_cpus() -> int:
    return check(lib().libbpf_num_possible_cpus(), "libbpf_num_possible_cpus")


def obj_get(path: str) -> int:
    return check(lib().bpf_obj_get(path.encode()), f"open pinned object {path}")


def obj_pin(fd: int, path: str) -> None:
    check(lib().bpf_obj_pin(fd, path.encode()), f"pin fd {fd} at {path}")


def map_info(fd: int) -> BpfMapInfo:
    info = BpfMapInfo()
    size = ct.c_uint32(ct.sizeof(info))
    check(lib().bpf_obj_get_info_by_fd(fd, ct.byref(info), ct.byref(size)), f"map info of fd {fd}")
    return info


def batch_opts(elem_flags: int = 0) -> BpfMapBatchOpts:
    return BpfMapBatchOpts(ct.sizeof(BpfMapBatchOpts), elem_flags, 0)


def xdp_attach(ifindex: int, prog_fd: int, flags: int = XDP_FLAGS_DRV_MODE) -> None:
    check(lib().bpf_xdp_attach(ifindex, prog_fd, flags, None), f"attach XDP to ifindex {ifindex}")


def xdp_detach(ifindex: int, flags: int = XDP_FLAGS_DRV_MODE) -> None:
    check(lib().bpf_xdp_detach(ifindex, flags, None), f"detach XDP from ifindex {ifindex}")


def xdp_prog_id(ifindex: int) -> int:
    """The id of the XDP program on ``ifindex`` (0 when none)."""
    prog_id = ct.c_uint32(0)
    check(lib().bpf_xdp_query_id(ifindex, 0, ct.byref(prog_id)), f"query XDP on ifindex {ifindex}")
    return prog_id.value
