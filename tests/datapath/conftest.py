import ctypes as ct
from typing import Any

import pytest

from s6nf.agent.bpfmap import BpfMap
from s6nf.agent.loader import Program, load
from s6nf.agent.maps import SteeringMaps
from s6nf.agent.structs import Counter, FwdTarget
from s6nf.agent.test_run import XDP_REDIRECT, run_xdp
from s6nf.agent.verdicts import Reason
from s6nf.keys import DEFAULT_BUCKETS


def reason_counts(prog: Program) -> dict[Reason, int]:
    with prog.map("stats", ct.c_uint32, ct.c_uint64) as stats:
        return {Reason(k.value): sum(v.value for v in vals)
                for k, vals in stats.items_percpu() if int(k.value) in Reason._value2member_map_}


def clear(m: BpfMap[Any, Any]) -> None:
    for key in list(m.keys()):
        m.delete(key)


@pytest.fixture(scope="module")
def steer():
    prog = load("steer")
    yield prog
    prog.close()


@pytest.fixture(scope="module")
def monitor():
    prog = load("monitor", defines={"MAX_FLOWS": 64})
    yield prog
    prog.close()


def bucket_packets(prog: Program) -> dict[int, int]:
    with prog.map("bucket_stats", ct.c_uint32, Counter) as m:
        return {int(k.value): sum(c.packets for c in v) for k, v in m.items_percpu()
                if any(c.packets for c in v)}


PORTS = 3


def bucket_mac(bucket: int) -> bytes:
    return bytes([2, 0, 0, 0, bucket >> 8, bucket & 0xFF])


@pytest.fixture(scope="module")
def steering(steer):
    """Every bucket forwards to port 1 + b % 3 with a MAC that spells the bucket."""
    with SteeringMaps.of(steer) as maps:
        maps.apply_key_space({b: FwdTarget.of(1 + b % PORTS, bucket_mac(b))
                              for b in range(DEFAULT_BUCKETS)})
        for port in range(1, PORTS + 1):
            maps.set_port(port, 100 + port)
    return steer


def steered_bucket(prog, packet: bytes) -> int:
    result = run_xdp(prog.fd, packet)
    assert result.action == XDP_REDIRECT
    mac = result.packet[:6]
    assert mac[:4] == bytes([2, 0, 0, 0])
    return mac[4] << 8 | mac[5]
