"""Hostile frames through the steering and monitor programs: no error, every frame counted
under exactly one reason, and an established flow's packets all still forwarded."""

import pytest

from s6nf.agent.fuzz import run_campaign, verdicts
from s6nf.agent.maps import FlowTable
from s6nf.keys import FlowKey
from tests.datapath import packets as pk
from tests.datapath.conftest import reason_counts

pytestmark = pytest.mark.root
FRAMES = 20_000
ESTABLISHED = pk.tcp(src="10.9.0.1", dst="10.9.0.2", sport=1234, dport=80, flags="A")
ESTABLISHED_KEY = FlowKey.of("10.9.0.1", "10.9.0.2", 1234, 80, 6)


@pytest.mark.parametrize("seed", [1, 2])
def test_steering_counts_every_hostile_frame_and_keeps_forwarding(steering, seed):
    before = verdicts(reason_counts(steering))
    result = run_campaign(steering, seed, FRAMES, ESTABLISHED)
    assert verdicts(reason_counts(steering)) - before == result.frames + result.established_sent
    assert result.established_forwarded == result.established_sent


def test_monitor_counts_every_hostile_frame_and_keeps_forwarding(monitor):
    with FlowTable.of(monitor) as table:
        table.configure(42, bytes(6), bytes(6))
        before = verdicts(reason_counts(monitor))
        result = run_campaign(monitor, 3, FRAMES, ESTABLISHED)
        assert verdicts(reason_counts(monitor)) - before == \
            result.frames + result.established_sent
        assert result.established_forwarded == result.established_sent
        counted = {k.canonical(): s.packets for k, s in table.entries().items()}
        assert counted[ESTABLISHED_KEY.canonical()] >= result.established_sent
