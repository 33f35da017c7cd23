import ctypes as ct
from typing import Any

import pytest

from s6nf.agent.bpfmap import BpfMap
from s6nf.agent.loader import Program, load
from s6nf.agent.structs import Counter
from s6nf.agent.verdicts import Reason


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
