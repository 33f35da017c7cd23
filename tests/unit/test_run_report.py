"""RunReport's rule for the way back: every flow gets back as many replies as the sink got."""

from s6nf.keys import FlowKey
from s6nf.testbed.run import reply_mismatch

A = FlowKey.of("10.1.0.1", "10.2.0.1", 40000, 80, 6)
B = FlowKey.of("10.1.0.2", "10.2.0.1", 40001, 80, 6)
A_NAT = FlowKey.of("198.51.100.1", "10.2.0.1", 10000, 80, 6)
B_NAT = FlowKey.of("198.51.100.1", "10.2.0.1", 10001, 80, 6)


def test_same_keys_compare_flow_by_flow():
    assert reply_mismatch({A: 3, B: 2}, {A: 3, B: 2}) == []
    assert reply_mismatch({A: 3, B: 2}, {A: 2, B: 3}) == [
        "2 flows got back another number of replies than the sink received of them"]


def test_rewritten_keys_compare_the_counts():
    assert reply_mismatch({A_NAT: 3, B_NAT: 2}, {A: 2, B: 3}) == []
    assert reply_mismatch({A_NAT: 3, B_NAT: 2}, {A: 3}) != []
    assert reply_mismatch({A_NAT: 3, B_NAT: 2}, {A: 3, B: 1}) != []
