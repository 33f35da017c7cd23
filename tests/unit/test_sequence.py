from s6nf.agent.structs import SinkFlow
from s6nf.keys import FlowKey
from s6nf.measure.sequence import sequence_report

A = FlowKey.of("10.1.0.1", "10.2.0.1", 40000, 80, 6)
B = FlowKey.of("10.1.0.2", "10.2.0.1", 40001, 53, 17)
C = FlowKey.of("10.1.0.3", "10.2.0.1", 40002, 53, 17)


def record(measured, next_seq, reordered=0, packets=None):
    return SinkFlow(packets if packets is not None else measured, 0, next_seq, measured, reordered)


def test_without_sent_counts_loss_is_the_gap_below_the_highest_seq():
    report = sequence_report({A: record(5, 7, 1), B: record(3, 3)})
    assert report.flows[A.canonical()].lost == 2 and report.flows[B.canonical()].lost == 0
    assert (report.expected, report.received, report.lost, report.reordered) == (10, 8, 2, 1)
    assert report.flows_with_loss == report.flows_reordered == 1


def test_sent_counts_in_either_direction_see_tail_loss_and_silent_flows():
    records = {A: record(5, 7), B: record(3, 3)}
    report = sequence_report(records, {A.reversed(): 9, B: 3, C: 4})
    assert [report.flows[k.canonical()].lost for k in (A, B, C)] == [4, 0, 4]
    assert report.flows_with_loss == 2


def test_duplicates_show_as_negative_loss_and_unmeasured_flows_are_left_out():
    report = sequence_report({A: record(4, 3), B: record(0, 0, packets=10)})
    assert report.flows[A.canonical()].lost == -1
    assert B.canonical() not in report.flows
