import re

import pytest

from s6nf.p4model import DropReason, admit
from tests.p4source import P4_DIR
from tests.vectors.steering_cases import CASES


@pytest.mark.parametrize(("description", "frame", "reason", "flow"), CASES,
                         ids=[c[0] for c in CASES])
def test_shared_cases(description, frame, reason, flow):
    admission = admit(frame)
    assert admission.reason == reason, description
    assert admission.flow == flow, description


def test_both_directions_of_a_steered_flow_share_a_bucket():
    steered = [c for c in CASES if c[2] == DropReason.NONE]
    flows = {admit(frame).flow for _, frame, _, _ in steered}
    assert len({f.bucket() for f in flows if f is not None and f.dport in (80, 40000)}) == 1


def test_drop_reasons_agree_with_the_p4_source():
    text = (P4_DIR / "include" / "defines.p4").read_text()
    declared = {
        name: int(value)
        for name, value in re.findall(r"const\s+drop_reason_t\s+DROP_(\w+)\s*=\s*(\d+);", text)
    }
    assert declared == {reason.name: reason.value for reason in DropReason}
