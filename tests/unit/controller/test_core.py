from itertools import pairwise

import pytest

from s6nf.backup_ring import BackupRing
from s6nf.controller import core
from s6nf.controller.model import ControllerState, Member, Steer
from s6nf.keys import bucket_of_bytes
from s6nf.keyspace import minimum_moves


def member(i: int, now: float = 0.0, port: int | None = None) -> Member:
    return Member(i, f"h:{7000 + i}", f"h:{8000 + i}",
                  Steer(i + 1 if port is None else port, bytes([2, 0, 0, 0, 0, i])), now)


def cluster(n: int) -> ControllerState:
    state = ControllerState()
    for i in range(n):
        state = core.register(state, member(i))
    return state


def test_register_refuses_a_port_or_mac_already_taken():
    state = cluster(2)
    with pytest.raises(ValueError, match="claims port 1"):
        core.register(state, member(5, port=1))


def test_an_owner_cannot_change_its_steering():
    state = cluster(2)
    plan = core.plan_scale(state, [0, 1], buckets=16)
    state = ControllerState(plan.next, state.members)
    with pytest.raises(ValueError, match="owns buckets"):
        core.register(state, member(0, port=9))
    assert core.register(state, member(0, now=5.0)).members[0].last_seen == 5.0


def test_choose_keeps_owners_and_adds_lowest_spares():
    state = cluster(4)
    state = ControllerState(core.plan_scale(state, [2, 3], 16).next, state.members)
    assert core.choose_instances(state, 3) == [0, 2, 3]
    assert core.choose_instances(state, 1) == [2]
    with pytest.raises(ValueError, match="only 4 agents registered"):
        core.choose_instances(state, 5)
    with pytest.raises(ValueError, match="at least 1"):
        core.choose_instances(state, 0)


def test_first_install_is_epoch_one_and_steers_every_bucket():
    plan = core.plan_scale(cluster(2), [0, 1], buckets=16)
    assert plan.current is None and plan.next.epoch == core.FIRST_EPOCH
    assert len(plan.moved) == 16 == len(plan.steering)
    assert plan.steering[0] == member(plan.next.owner(0)).steer


@pytest.mark.parametrize("steps", [[1, 2, 4, 1], [3, 2, 4], [4, 1, 3]])
def test_each_scale_step_moves_the_minimum(steps):
    state = cluster(4)
    state = ControllerState(core.plan_scale(state, list(range(steps[0])), 64).next, state.members)
    for count in steps[1:]:
        ids = core.choose_instances(state, count)
        plan = core.plan_scale(state, ids, 64)
        assert state.key_space is not None
        assert len(plan.moved) == minimum_moves(state.key_space, ids)
        assert set(plan.steering) == set(plan.moved)
        assert set(plan.agents) == set(ids) | state.owners
        state = ControllerState(plan.next, state.members)


def test_reconcile_returns_only_the_wrong_entries():
    state = cluster(2)
    ks = core.plan_scale(state, [0, 1], 8).next
    right = core.steering_of(ks, state.members)
    read_back = {**right, 3: None, 5: Steer(9, bytes(6))}
    del read_back[6]
    assert set(core.reconcile(ks, state.members, read_back)) == {3, 5, 6}
    assert core.reconcile(ks, state.members, right) == {}


def test_slices_move_shares_of_the_buckets_in_consecutive_epochs_to_the_same_end():
    state = cluster(4)
    state = ControllerState(core.plan_scale(state, [0], 64).next, state.members)
    whole = core.plan_scale(state, [0, 1, 2, 3], 64)
    plans = core.plan_slices(state, [0, 1, 2, 3], 4, 64)
    assert [p.next.epoch for p in plans] == [2, 3, 4, 5]
    assert plans[-1].next.owners == whole.next.owners
    for earlier, later in pairwise(plans):
        assert later.current == earlier.next
    shares = [set(p.moved) for p in plans]
    assert sorted(b for s in shares for b in s) == sorted(whole.moved)
    assert {len(s) for s in shares} == {len(whole.moved) // 4}
    for p in plans:
        assert p.current is not None
        assert set(p.current.moved(p.next)) == set(p.moved) == set(p.steering)
        assert {p.next.owner(b) for b in p.moved} == {1, 2, 3}
    assert core.plan_slices(state, [0, 1, 2, 3], 1, 64) == [whole]
    assert len(core.plan_slices(cluster(2), [0, 1], 8, 64)) == 1
    with pytest.raises(ValueError, match="at least one slice"):
        core.plan_slices(state, [0, 1], 0, 64)


def test_a_failover_moves_only_the_dead_instances_buckets_to_their_backups():
    state = cluster(3)
    ks = core.plan_scale(state, [0, 1, 2], buckets=64).next
    state = ControllerState(ks, {i: m for i, m in state.members.items() if i != 1})
    plan = core.plan_failover(state, [1], ks.epoch + 2)
    assert plan.next.epoch == ks.epoch + 2 and 1 not in plan.next.instances
    assert set(plan.moved) == {b for b in range(64) if ks.owner(b) == 1}
    assert set(plan.steering) == set(plan.moved) and plan.agents == (0, 2)
    ring = BackupRing(ks)
    keys = {bucket_of_bytes(k, 64): k for k in (i.to_bytes(4, "big") for i in range(5000))}
    for b in plan.moved:
        assert plan.next.owner(b) == ring.backup_of(1, keys[b])
    with pytest.raises(ValueError, match="nobody to take over"):
        core.plan_failover(ControllerState(ks, {}), [0, 1, 2], ks.epoch + 1)


def test_a_failover_that_aborts_a_scale_event_includes_its_live_leavers():
    """They hold what they had not pushed yet and copies they kept: left out, those were lost
    (a flow's entry made anew with a second public port)."""
    state = cluster(4)
    ks = core.plan_scale(state, [1, 2], buckets=64).next
    state = ControllerState(ks, {i: m for i, m in state.members.items() if i != 1})
    plan = core.plan_failover(state, [1], ks.epoch + 1, aborted=(0, 1, 2, 7))
    assert plan.agents == (0, 2)
    assert core.plan_failover(state, [1], ks.epoch + 1).agents == (2,)
