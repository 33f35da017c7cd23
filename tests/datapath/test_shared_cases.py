"""The steering cases shared with the P4 model, through the eBPF steering program.

The eBPF target names its drops more finely than the P4 pipeline; ``P4_REASON`` is the one
mapping between them (docs/datapath.md). Frames shorter than an Ethernet header cannot be
test-run (the kernel refuses them) and never reach XDP on a veth either.
"""

import pytest

from s6nf.agent.test_run import XDP_DROP, XDP_REDIRECT, run_xdp
from s6nf.agent.verdicts import Reason
from s6nf.p4model import DropReason
from tests.datapath.conftest import reason_counts, steered_bucket
from tests.vectors.steering_cases import CASES

pytestmark = pytest.mark.root

P4_REASON = {
    Reason.FORWARD: DropReason.NONE,
    Reason.DROP_NOT_IPV4: DropReason.NOT_IPV4,
    Reason.DROP_FRAGMENT: DropReason.IPV4_FRAGMENT,
    Reason.DROP_BAD_IP: DropReason.IPV4_BAD_IHL,
    Reason.DROP_UNSUPPORTED_L4: DropReason.NOT_TCP_UDP,
    Reason.DROP_TRUNC_ETH: DropReason.PARSER_ERROR,
    Reason.DROP_TRUNC_IP: DropReason.PARSER_ERROR,
    Reason.DROP_TRUNC_L4: DropReason.PARSER_ERROR,
    Reason.DROP_VLAN_DEPTH: DropReason.PARSER_ERROR,
}
RUNNABLE = [c for c in CASES if len(c[1]) >= 14]


def test_most_cases_can_be_run():
    assert len(RUNNABLE) >= len(CASES) - 1


@pytest.mark.parametrize(("frame", "reason", "flow"), [c[1:] for c in RUNNABLE],
                         ids=[c[0] for c in RUNNABLE])
def test_ebpf_steering_agrees_with_the_p4_model(steering, frame, reason, flow):
    before = reason_counts(steering)
    action = run_xdp(steering.fd, frame).action
    after = reason_counts(steering)
    (counted,) = [r for r in Reason if not r.is_note and after.get(r, 0) != before.get(r, 0)]
    assert P4_REASON[counted] == reason
    assert action == (XDP_REDIRECT if reason == DropReason.NONE else XDP_DROP)
    if flow is not None:
        assert steered_bucket(steering, frame) == flow.bucket()
