"""Which members are dead, by fake time: silent for dead_after, or wedged for wedged_after."""

import pytest

from s6nf.controller.liveness import Beat, dead, received, silent, wedged


def test_silent_members_by_fake_time():
    beats = {0: Beat(9.0), 1: Beat(10.0), 2: Beat(9.4)}
    assert silent(beats, now=10.5, timeout_s=1.0) == [0, 2]
    assert silent(beats, now=10.0, timeout_s=1.0) == []


def test_a_busy_loop_that_still_beats_is_not_dead_until_the_wedged_bound():
    beats = {0: Beat(10.0, stalled_s=3.0), 1: Beat(10.0, stalled_s=6.0), 2: Beat(10.0)}
    assert dead(beats, now=10.2, dead_after_s=1.0, wedged_after_s=5.0) == [1]
    assert dead(beats, now=10.2, dead_after_s=1.0, wedged_after_s=0.0) == []
    assert wedged(beats, 2.0) == [0, 1]


def test_dead_is_silent_or_wedged():
    beats = {0: Beat(8.0), 1: Beat(10.0, stalled_s=9.0), 2: Beat(10.0, stalled_s=0.1)}
    assert dead(beats, now=10.1, dead_after_s=1.0, wedged_after_s=5.0) == [0, 1]


def test_a_heartbeat_keeps_the_longest_stall():
    beat = received(Beat(1.0), 2.0, 2.5)
    beat = received(beat, 2.2, 0.0)
    assert beat == Beat(2.2, 0.0, 2.5)
    with pytest.raises(ValueError, match="stalled_s must be >= 0"):
        received(beat, 3.0, -1.0)
