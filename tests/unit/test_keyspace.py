import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s6nf.keyspace import KeySpace, initial, minimum_moves, rebalance

instance_sets = st.sets(st.integers(0, 15), min_size=1, max_size=8)


def _even(ks: KeySpace) -> bool:
    load = ks.load().values()
    return max(load) - min(load) <= 1


def test_initial_is_even_and_epoch_zero():
    ks = initial([0, 1, 2], buckets=64)
    assert ks.epoch == 0 and _even(ks) and ks.instances == {0, 1, 2}


@settings(max_examples=60, deadline=None)
@given(
    instance_sets,
    st.lists(instance_sets, min_size=1, max_size=5),
    st.sampled_from([16, 64, 4096]),
)
def test_rebalance_is_even_minimal_and_only_uses_live_instances(first, steps, buckets):
    ks = initial(first, buckets)
    for step in steps:
        nxt = rebalance(ks, step)
        assert nxt.epoch == ks.epoch + 1
        assert nxt.instances <= set(step)
        assert _even(nxt) and sum(nxt.load().values()) == buckets
        if buckets >= len(step):
            assert nxt.instances == set(step)
        assert len(ks.moved(nxt)) == minimum_moves(ks, sorted(step))
        ks = nxt


def test_scale_out_one_to_two_moves_half():
    ks = initial([0], 4096)
    assert len(ks.moved(rebalance(ks, [0, 1]))) == 2048


def test_home_uses_bucket_of_canonical_bytes():
    ks = initial([3, 7], 2)
    assert ks.home(b"\x00" * 13) in {3, 7}


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="at least one instance"):
        initial([])
    with pytest.raises(ValueError, match="power of two"):
        KeySpace(0, (0, 0, 0))
    with pytest.raises(ValueError, match="bucket counts differ"):
        initial([0], 4).moved(initial([0], 8))
