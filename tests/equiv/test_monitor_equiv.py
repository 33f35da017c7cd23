"""The output-equivalence checker on the asset monitor (docs/equivalence.md): outputs byte
for byte, per-flow entries and the shared assets and totals against one instance."""

import pytest

from s6nf.agent.dso import Mode
from s6nf.equiv.campaign import campaign
from s6nf.equiv.case import Checker
from tests.equiv.test_nat_equiv import SEED

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def checker():
    c = Checker("monitor")
    yield c
    c.close()


@pytest.mark.parametrize(("mode", "schedules"), [(Mode.S6, 30), (Mode.STOP_AND_COPY, 10)])
def test_a_short_random_campaign_finds_no_violation(checker, mode, schedules):
    report = campaign(checker, schedules, mode, SEED, shrink=False, tolerate=frozenset())
    print(report.summary())
    assert report.smallest is None, report.summary()
    assert report.generated == schedules


def test_local_only_is_caught(checker):
    report = campaign(checker, 10, Mode.LOCAL_ONLY, SEED, shrink=False, tolerate=frozenset())
    assert report.smallest is not None, report.summary()
