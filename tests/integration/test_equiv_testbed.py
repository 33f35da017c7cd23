"""The equivalence check's testbed driver (docs/equivalence.md): for each NF, one trace of real
traffic through gen → sw → nf* → sink, once through one instance and once scaled out and in
under load, must reach the sink the same, flow by flow, and leave the same NF state; in
local-only mode the same check must fail (root only)."""

import os

import pytest

from s6nf.equiv.testbed import TestbedCheck, run_check

pytestmark = [pytest.mark.root, pytest.mark.timeout(180)]
SCHEDULE = "1@0s,2@1s,1@2s"


@pytest.mark.parametrize("nf", ["nat", "monitor", "ids"])
def test_a_scaled_run_reaches_the_sink_and_ends_like_one_instance(tmp_path, nf):
    check = TestbedCheck(nf, SCHEDULE, tmp_path, name=f"eq{nf[0]}{os.getpid() % 10000}")
    found, results = run_check(check, progress=lambda _: None)
    assert not found, "\n".join(str(v) for v in found)
    scaled, ref = results["modes"]["s6"], results["reference"]
    assert [e["instances"] for e in scaled["events"] if e["ok"]] == [2, 1]
    assert scaled["equivalence"]["flows_compared"] == check.flows
    assert ref["state"]["entries"] == scaled["state"]["entries"] > 0
    if nf == "ids":
        assert len(ref["agents"]["alerts"]) > 0
    if nf == "monitor":
        assert ref["agents"]["assets"]
