"""The controller's logic, pure: it takes the state, inputs and ``now`` and returns new state
or plans. It never sleeps, reads a clock or touches the network (faucet's pure core)."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from s6nf.backup_ring import failover_key_space
from s6nf.controller.model import ControllerState, Member, ScalePlan, Steer
from s6nf.keys import DEFAULT_BUCKETS
from s6nf.keyspace import KeySpace, initial, rebalance

FIRST_EPOCH = 1
"""The first installed key space's epoch; epoch 0 is every fresh agent's bootstrap."""


def register(state: ControllerState, member: Member) -> ControllerState:
    """Add or refresh a member; refuse one that claims another member's port or MAC."""
    for other in state.members.values():
        if other.instance == member.instance:
            continue
        if other.steer.port == member.steer.port or other.steer.dmac == member.steer.dmac:
            raise ValueError(f"instance {member.instance} claims port {member.steer.port} / "
                             f"MAC {member.steer.dmac.hex(':')} of instance {other.instance}")
    old = state.members.get(member.instance)
    if old is not None and old.steer != member.steer and member.instance in state.owners:
        raise ValueError(f"instance {member.instance} owns buckets and cannot change its "
                         f"steering ({old.steer} → {member.steer}); scale it in first")
    return state.with_member(member)


def plan_failover(state: ControllerState, dead: list[int], epoch: int,
                  aborted: Collection[int] = ()) -> ScalePlan:
    """Epoch ``epoch``: every bucket of a ``dead`` instance goes to its backup (the first live
    owner after it on the backup ring); the survivors are the agents involved, and so are the
    live ``aborted`` ones (the agents of a scale event the failover aborts: its leavers still
    hold what they had not pushed, and copies they kept as backups, which the takeover
    promotes and pushes to their new homes)."""
    current = state.key_space
    if current is None:
        raise ValueError("no key space yet: nothing to fail over")
    nxt = failover_key_space(current, dead, epoch)
    moved = tuple(current.moved(nxt))
    leavers = {i for i in aborted if i in state.members and i not in dead}
    return ScalePlan(current, nxt, moved, steering_of(nxt, state.members, moved),
                     tuple(sorted(nxt.instances | leavers)))


def choose_instances(state: ControllerState, count: int) -> list[int]:
    """The instances to run ``count`` with: current owners first, then the lowest ids."""
    if count < 1:
        raise ValueError(f"cannot scale to {count} instances; at least 1")
    registered = sorted(state.members)
    if count > len(registered):
        raise ValueError(f"cannot scale to {count}: only {len(registered)} agents registered "
                         f"({registered}); start more agents first")
    owners = sorted(state.owners & set(registered))
    if count <= len(owners):
        return owners[:count]
    spare = [i for i in registered if i not in owners]
    return sorted(owners + spare[:count - len(owners)])


def steering_of(ks: KeySpace, members: Mapping[int, Member],
                buckets: list[int] | tuple[int, ...] | None = None) -> dict[int, Steer]:
    chosen = range(ks.buckets) if buckets is None else buckets
    missing = sorted({ks.owner(b) for b in chosen} - set(members))
    if missing:
        raise ValueError(f"key space names unregistered instances {missing}")
    return {b: members[ks.owner(b)].steer for b in chosen}


def plan_scale(state: ControllerState, instances: list[int],
               buckets: int = DEFAULT_BUCKETS) -> ScalePlan:
    """The key space, moved buckets and steering updates that take the system to
    ``instances``, moving as few buckets as even load allows."""
    current = state.key_space
    if current is None:
        nxt = KeySpace(FIRST_EPOCH, initial(instances, buckets).owners)
        moved = tuple(range(nxt.buckets))
    else:
        nxt = rebalance(current, instances)
        moved = tuple(current.moved(nxt))
    agents = tuple(sorted(set(instances) | state.owners))
    return ScalePlan(current, nxt, moved, steering_of(nxt, state.members, moved), agents)


def plan_slices(state: ControllerState, instances: list[int], slices: int,
                buckets: int = DEFAULT_BUCKETS) -> list[ScalePlan]:
    """``plan_scale`` as up to ``slices`` consecutive epochs, each moving an equal share of the
    moved buckets (every ``slices``-th one, so each share spreads over every gaining and losing
    instance); together they reach the same key space.

    A moved flow's packets go through the new owner's slow path until its state arrives; in
    slices, an agent has a share of the moved flows in its slow path at a time instead of all
    of them (docs/controller.md)."""
    if slices < 1:
        raise ValueError(f"a scale event needs at least one slice, got {slices}")
    whole = plan_scale(state, instances, buckets)
    if whole.current is None or slices == 1 or len(whole.moved) < 2:
        return [whole]
    plans = []
    ks = whole.current
    for n in range(min(slices, len(whole.moved))):
        share = whole.moved[n::slices]
        owners = list(ks.owners)
        for b in share:
            owners[b] = whole.next.owner(b)
        nxt = KeySpace(ks.epoch + 1, tuple(owners))
        plans.append(ScalePlan(ks, nxt, share, steering_of(nxt, state.members, share),
                               whole.agents))
        ks = nxt
    return plans


def reconcile(ks: KeySpace, members: Mapping[int, Member],
              read_back: Mapping[int, Steer | None]) -> dict[int, Steer]:
    """The steering entries that differ from the key space (only those get written)."""
    want = steering_of(ks, members)
    return {b: s for b, s in want.items() if read_back.get(b) != s}
