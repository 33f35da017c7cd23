"""Scale events under load: nothing lost, duplicated, applied twice or left behind."""

import random
import time

import pytest

from s6nf.agent.dso import Mode
from s6nf.keyspace import initial, rebalance
from tests.integration.dso.conftest import Cluster, H, S, addresses, running
from tests.integration.dso.scenarios import COUNTERS, FLOWS


def scale(procs: Cluster, before: list[int], after: list[int], buckets: int = 64) -> None:
    ks0 = initial(before, buckets)
    ks1 = rebalance(ks0, after)
    rnd = random.Random(len(before) * 10 + len(after))
    flow_keys = [rnd.getrandbits(32).to_bytes(4, "big") for _ in range(200)]
    counter_keys = [b"c" + bytes([i]) for i in range(8)]
    ticket = b"ticket"
    loads = {i: p.submit(S + "load", flow_keys, counter_keys, ticket, i) for i, p in procs.items()}
    time.sleep(0.3)
    for p in procs.values():
        p.run(H + "prepare", ks1, addresses(procs))
    switches = [(p, p.submit(H + "switch", 1)) for p in procs.values()]
    for p, job in switches:
        p.result(job)
    drains = [(p, p.submit(H + "wait_drained", 0, 15.0)) for p in procs.values()]
    for p, job in drains:
        assert p.result(job)["to_push"] == 0
    for p in procs.values():
        p.run(H + "retire", 0)
    time.sleep(0.2)
    for p in procs.values():
        p.run(S + "stop_load")
    results = {i: procs[i].result(job, 30) for i, job in loads.items()}

    held = {i: p.run(S + "held_flows") for i, p in procs.items()}
    owners: dict[bytes, list[int]] = {}
    for i, objs in held.items():
        for key in objs:
            owners.setdefault(key, []).append(i)
    expected: dict[bytes, int] = {}
    for r in results.values():
        for key, n in r["touched"].items():
            expected[key] = expected.get(key, 0) + n
    assert set(owners) == set(expected), "objects lost or invented"
    for key, where in owners.items():
        assert where == [ks1.home(key)], f"{key.hex()} held at {where}, home {ks1.home(key)}"
        assert held[where[0]][key] == expected[key], f"{key.hex()}: increments lost or doubled"

    adds = sum(r["adds"] for r in results.values())
    deadline = time.monotonic() + 10
    while True:
        try:
            total = sum(procs[after[0]].run(S + "read_counter", k) for k in counter_keys)
        except RuntimeError:
            for k in counter_keys:
                for i, p in procs.items():
                    print("DUMP", k, i, p.run(S + "dump", COUNTERS.map_id, k, timeout_s=2))
            raise
        assert total <= adds, f"untether applied twice: {total} > {adds}"
        if total == adds or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert total == adds, f"untether calls lost: {total} of {adds}"
    tickets = sorted(t for r in results.values() for t in r["tickets"])
    assert tickets == list(range(len(tickets))), "a strict call was lost or applied twice"
    for i, p in procs.items():
        for key in p.run(S + "held_keys", COUNTERS.map_id):
            assert ks1.home(key) == i, f"MultiWriter {key!r} left at {i}"
        if i not in after:
            assert not p.run(S + "held_keys", FLOWS.map_id), f"leaving agent {i} not empty"


@pytest.mark.parametrize(
    ("before", "after"), [([0, 1], [0, 1, 2]), ([0, 1, 2], [0, 1]), ([0], [0, 1, 2, 3])]
)
def test_scale_event_under_load(before, after):
    ids = sorted(set(before) | set(after))
    with running(initial(before, 64), ids, Mode.S6) as procs:
        scale(procs, before, after)


@pytest.mark.parametrize("mode", [Mode.STOP_AND_COPY, Mode.REMOTE_ONLY])
def test_baseline_modes_scale_under_load(mode):
    with running(initial([0, 1], 64), [0, 1, 2], mode) as procs:
        scale(procs, [0, 1], [0, 1, 2])
