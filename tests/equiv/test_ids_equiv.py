"""The output-equivalence checker on the IDS (docs/equivalence.md): each flow's outputs over
both directions in order, its rule alerts in order, its TCP-state entry, and the port-scan
windows and settings against one instance; the traces trigger content and pcre rules and
cross the scan threshold, which the reference runs are held to."""

import pytest

from s6nf.agent.dso import Mode
from s6nf.equiv.campaign import campaign
from s6nf.equiv.case import Checker
from s6nf.equiv.ids_setup import CONTENT_SIDS, PCRE_SIDS
from tests.equiv.test_nat_equiv import SEED

pytestmark = pytest.mark.root
KNOWN = frozenset({"order", "shared", "scan"})
"""The two known, unfixed bugs (the reorder across a switch, one-way calls lost across
back-to-back events; see the NAT's and the monitor's campaigns), and "scan": a port scan
reported later than one instance reports it, or not by the end of the trace, which the IDS's
@untether adds and @stale count allow (s6nf/equiv/compare_ids.py). Campaigns count such
cases and fail on anything else: outputs, rule alerts, entries, placement, double scans."""


@pytest.fixture(scope="module")
def checker():
    c = Checker("ids")
    yield c
    c.close()


@pytest.mark.parametrize(("mode", "schedules"), [(Mode.S6, 30), (Mode.STOP_AND_COPY, 10)])
def test_a_short_random_campaign_finds_no_violation_but_the_known_ones(checker, mode,
                                                                       schedules):
    report = campaign(checker, schedules, mode, SEED, shrink=False, tolerate=KNOWN)
    print(report.summary(), dict(checker.covered))
    assert report.smallest is None, report.summary()
    assert report.generated == schedules


def test_the_traces_make_the_reference_raise_content_pcre_and_scan_alerts(checker):
    """Run after the campaigns above (same module checker): what they compared included
    content rules, pcre rules and port scans."""
    if not checker.runs:
        campaign(checker, 20, Mode.S6, SEED, shrink=False, tolerate=KNOWN)
    sids = {int(k.split()[1]) for k in checker.covered if k.startswith("sid ")}
    assert sids & CONTENT_SIDS and sids & PCRE_SIDS, dict(checker.covered)
    assert checker.covered["portscan"] > 0, dict(checker.covered)


def test_local_only_is_caught(checker):
    """A checker that cannot fail proves nothing: local-only loses entries and scan windows."""
    report = campaign(checker, 10, Mode.LOCAL_ONLY, SEED, shrink=False, tolerate=frozenset())
    assert report.smallest is not None, report.summary()
    kinds = {v.kind for v in report.smallest[1]}
    assert kinds & {"state", "shared", "alert", "output", "run"}, report.summary()
