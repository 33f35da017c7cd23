"""SingleWriter objects across agent processes: ownership, exclusivity, FIFO, coalescing."""

from s6nf.keyspace import initial
from tests.integration.dso.conftest import S, key_homed_at, running


def test_ownership_moves_on_access_and_is_exclusive():
    ks = initial([0, 1, 2], 64)
    key = key_homed_at(ks, 0)
    with running(ks, [0, 1, 2]) as procs:
        assert procs[1].run(S + "touch", key) == 1
        assert key in procs[1].run(S + "held_keys", 1)
        assert procs[2].run(S + "touch", key) == 2
        assert key in procs[2].run(S + "held_keys", 1)
        assert key not in procs[1].run(S + "held_keys", 1)
        jobs = {i: p.submit(S + "exclusive_hammer", key, 40, 3) for i, p in procs.items()}
        total = sum(procs[i].result(job) for i, job in jobs.items())
        flow = procs[0].run(S + "read_flow", key)
        assert flow["packets"] == 2 + total
        assert flow["max_holders"] == 1 and flow["holders"] == 0
        holders = [i for i, p in procs.items() if key in p.run(S + "held_keys", 1)]
        assert holders == [0]


def test_waiters_are_served_in_fifo_order():
    ks = initial([0, 1, 2, 3], 64)
    key, log_key = key_homed_at(ks, 0), key_homed_at(ks, 1)
    with running(ks, [0, 1, 2, 3]) as procs:
        holding = procs[0].submit(S + "hold", key, "go")
        procs[0].run(S + "wait_pinned", key)
        waits = []
        for n, i in enumerate((3, 1, 2)):
            waits.append(procs[i].submit(S + "access_and_log", key, log_key))
            procs[0].run(S + "waiting_at_home", key, n, timeout_s=10)
        procs[0].run(S + "signal", "go")
        procs[0].result(holding)
        for i, job in zip((3, 1, 2), waits, strict=True):
            procs[i].result(job)
        assert procs[0].run(S + "log_items", log_key) == [3, 1, 2]


def test_concurrent_misses_on_one_key_send_one_request():
    ks = initial([0, 1], 64)
    key = key_homed_at(ks, 0)
    with running(ks, [0, 1]) as procs:
        procs[0].run(S + "touch", key)
        sent, coalesced = procs[1].run(S + "concurrent_misses", key, 16)
        assert sent == 1 and coalesced == 15
        assert procs[1].run(S + "read_flow", key)["packets"] == 17


def test_remove_works_from_any_agent():
    ks = initial([0, 1, 2], 64)
    key = key_homed_at(ks, 0)
    with running(ks, [0, 1, 2]) as procs:
        procs[1].run(S + "touch", key)
        assert procs[2].run(S + "remove", key) is True
        assert all(key not in p.run(S + "held_keys", 1) for p in procs.values())
        assert procs[0].run(S + "remove", key) is False
        assert procs[2].run(S + "try_touch_existing", key).startswith("KeyError")
