"""MultiWriter objects across agent processes: untether, stale and strict consistency."""

import pytest

from s6nf.keyspace import initial
from tests.integration.dso.conftest import S, key_homed_at, running


def test_untether_counters_end_exact_after_concurrent_increments():
    ks = initial([0, 1, 2], 64)
    keys = [key_homed_at(ks, h, start) for h in (0, 1, 2) for start in (0, 5000)]
    with running(ks, [0, 1, 2]) as procs:
        jobs = {i: p.submit(S + "cast_many", keys, 2000, 4) for i, p in procs.items()}
        sent = sum(procs[i].result(job, 30) for i, job in jobs.items())
        totals = [procs[0].run(S + "read_counter", key) for key in keys]
        assert sum(totals) == sent == 3 * 4 * 2000


def test_stale_reads_are_never_older_than_their_bound():
    ks = initial([0, 1, 2], 64)
    key = key_homed_at(ks, 0)
    bound = 0.05
    with running(ks, [0, 1, 2]) as procs:
        reading = procs[2].submit(S + "stale_reader", key, 1.0)
        writes = procs[1].run(S + "writer", key, 400)
        reads = procs[2].result(reading)
    assert len(reads) > 100
    cached = 0
    for t, value in reads:
        must_see = max((v for v, done in writes if done < t - bound), default=0)
        assert value >= must_see, f"read at {t} saw {value}, but {must_see} was done by t - bound"
        cached += value < max((v for v, done in writes if done < t), default=0)
    assert cached > 0, "no read was served from the cache; the test would not catch staleness"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_strict_calls_are_linearizable(seed):
    ks = initial([0, 1, 2], 64)
    key = key_homed_at(ks, seed % 3)
    with running(ks, [0, 1, 2]) as procs:
        jobs = {i: p.submit(S + "fetch_adds", key, 200, seed * 10 + i) for i, p in procs.items()}
        history = [op for i, job in jobs.items() for op in procs[i].result(job)]
    results = sorted(r for _, _, r in history)
    assert results == list(range(len(history))), "a fetch_add was lost or applied twice"
    by_answer = sorted(history, key=lambda op: op[1])
    latest_done = -1
    for invoked, _, result in sorted(history):
        # Every op answered before this one was invoked must have taken an earlier slot.
        while by_answer and by_answer[0][1] < invoked:
            latest_done = max(latest_done, by_answer.pop(0)[2])
        assert result > latest_done, f"op invoked at {invoked} got {result} <= {latest_done}"
