"""Hostile frames through the steering program and each NF with its agent attached: no
error, every frame counted under exactly one reason, every punted frame finished by the
agent, and an established flow's packets all forwarded with the right rewrite. The
1,000,000-frame campaign is ``s6nf fuzz`` (docs/hostile-input.md)."""

import asyncio

import pytest

from s6nf.fuzz.campaign import run_campaign
from s6nf.fuzz.frames import ETH_HLEN, KINDS, hostile_frames, seeds
from s6nf.fuzz.targets import PROGRAMS

pytestmark = pytest.mark.root
FRAMES = 20_000


@pytest.mark.parametrize("program", PROGRAMS)
def test_every_hostile_frame_is_counted_once_and_the_established_flow_is_untouched(program):
    result = asyncio.run(run_campaign(program, 11, FRAMES))
    assert result.problems == []
    assert result.frames == FRAMES and sum(result.reasons.values()) == FRAMES
    assert result.established.sent == FRAMES // 10
    assert result.established.delivered == result.established.sent
    assert len(result.reasons) >= 8, "the frames reach most of the parser's reasons"
    if program != "steer":
        assert result.slow_path["punted"] == result.reasons["punted"] > FRAMES // 50
        assert result.slow_path["reinjected"] > 0


def test_the_generator_makes_every_kind_of_frame_deterministically():
    first = list(hostile_frames(5, 5000))
    assert first == list(hostile_frames(5, 5000))
    assert {kind for kind, _ in first} == set(KINDS)
    assert min(len(f) for _, f in first) >= ETH_HLEN
    cuts = {len(f) for kind, f in first if kind == "cut at a header boundary"}
    boundaries = {b for s in seeds() for b in s.boundaries if b >= ETH_HLEN}
    assert len(boundaries & cuts) >= len(boundaries) * 3 // 4
