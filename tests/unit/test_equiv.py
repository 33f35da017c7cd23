"""The checker's pure parts: traces, schedules, and comparison up to port renaming."""

import random

from s6nf.agent.structs import NatEntryRecord
from s6nf.equiv.compare import compare
from s6nf.equiv.driver import NAT, RunRecord, peak_alive
from s6nf.equiv.schedule import Kill, KillEvent, Scale, ScaleEvent, Schedule, random_schedule
from s6nf.equiv.trace import (
    FORWARD,
    REPLY,
    FlowSpec,
    Trace,
    forward_frame,
    random_trace,
    read_tag,
    reply_frame,
    script,
)
from s6nf.nfs.frames import parse, rewrite

TRACE = Trace((FlowSpec(True, 2, 0b1111), FlowSpec(False, 2, 0b01)), (1, 0, 0, 1, 0), 7)


def test_traces_are_deterministic_and_keep_each_flows_order():
    a, b = random_trace(random.Random(5), 6), random_trace(random.Random(5), 6)
    assert a == b and a.steps() == b.steps()
    steps = TRACE.steps()
    for flow, spec in enumerate(TRACE.flows):
        assert [s for s in steps if s.flow == flow] == script(flow, spec)
    assert Trace.from_json(TRACE.to_json()) == TRACE


def test_every_reply_follows_the_packet_it_answers():
    steps = random_trace(random.Random(9), 8).steps()
    sent = set()
    for s in steps:
        if s.direction == FORWARD:
            sent.add((s.flow, s.n))
        else:
            assert (s.flow, s.answers) in sent


def test_schedules_resolve_to_valid_memberships():
    for seed in range(200):
        rng = random.Random(seed)
        schedule = random_schedule(rng, 40, 4)
        alive = set(range(schedule.start))
        seen = set(alive)
        for _, members in schedule.resolve(4):
            assert members and len(set(members) | alive) <= 4
            assert all(m in alive or m not in seen for m in members)
            seen |= set(members)
            alive = set(members)
    assert Schedule(1, (ScaleEvent(0, 0, 5),)).resolve(4) == []
    assert Schedule.from_json(Schedule(2, (ScaleEvent(3, 1, 1),), 2).to_json()) == Schedule(
        2, (ScaleEvent(3, 1, 1),), 2)


def _nat(frame: bytes, port: int) -> bytes:
    h = parse(frame)
    return rewrite(frame, h, NAT.public_int, h.dst, port, h.dport, frame[6:12], frame[:6])


def _run(ports: dict[int, int], order=None) -> RunRecord:
    """What a NAT giving flow f the port ports[f] would send for TRACE."""
    run = RunRecord()
    out = {}
    for s in TRACE.steps():
        if s.direction == FORWARD:
            frame = _nat(forward_frame(TRACE, s)[0], ports[s.flow])
            out[s.flow, s.n] = frame
        else:
            frame = reply_frame(s, out[s.flow, s.answers])[0]
            h, inside = parse(frame), TRACE.endpoints(s.flow)
            frame = rewrite(frame, h, h.src, inside.src, h.sport, inside.sport, frame[6:12],
                            frame[:6])
        run.outputs.append((s.direction, frame))
    if order is not None:
        run.outputs = [run.outputs[i] for i in order]
    for flow, port in ports.items():
        key = TRACE.endpoints(flow)
        entry = NatEntryRecord(new_sport=int.from_bytes(port.to_bytes(2, "big"), "little"),
                               packets=3)
        run.entries.setdefault(0, {})[key.canonical()] = entry
    return run


def test_a_run_loads_programs_for_the_most_instances_up_at_once_leavers_included():
    """The kept case nat-stop-and-copy-compile-stalls-the-agents: the pool compiled a fourth
    program mid-run, stalling every agent of the event loop past its call timeout."""
    schedule = Schedule(3, (ScaleEvent(6, 1, 0), ScaleEvent(7, 1, 2), ScaleEvent(7, 1, 0)))
    assert [m for _, m in schedule.resolve(4)] == [(0, 1, 2, 3), (2, 3), (2, 3, 4)]
    assert peak_alive(frozenset({0, 1, 2}), schedule.timeline(4)) == 4
    assert peak_alive(frozenset({0, 1}), [Scale(0, (1, 2))]) == 3
    assert peak_alive(frozenset({0}), []) == 1


def test_kills_take_a_member_by_rank_and_need_a_survivor():
    schedule = Schedule(2, (ScaleEvent(4, 1, 0), ScaleEvent(9, 0, 1)),
                        kills=(KillEvent(4, 5, 3), KillEvent(6, 0, 9), KillEvent(9, 0)))
    assert schedule.timeline(4) == [Scale(4, (0, 1, 2)), Kill(4, 2, 6), Kill(6, 0, 9)]
    assert schedule.resolve(4) == [(4, (0, 1, 2))]
    assert Schedule.from_json(schedule.to_json()) == schedule
    assert Schedule(1, (), kills=(KillEvent(0, 0),)).timeline(4) == []


def test_a_leaver_of_a_scale_event_a_failover_aborts_stays_up():
    """Its program is not free again: it holds what it had not pushed yet."""
    timeline: list[Scale | Kill] = [Scale(3, (1, 2)), Kill(4, 1, 4), Scale(6, (2, 3))]
    assert peak_alive(frozenset({0, 1}), timeline) == 3
    assert peak_alive(frozenset({0, 1}), [Kill(0, 0, 0), Scale(1, (1, 2))]) == 2


def test_a_malformed_kill_is_refused_with_what_a_kill_is():
    for bad in ({"start": 1, "events": [], "kills": [[1, 2]]},
                {"start": 1, "events": [], "kills": [[-1, 0, 0]]}):
        try:
            Schedule.from_json(bad)
        except ValueError as exc:
            assert "[at, victim, delay]" in str(exc)
        else:
            raise AssertionError(f"{bad} accepted")


def test_outputs_compare_equal_up_to_a_consistent_renaming_of_public_ports():
    ref = _run({0: 20001, 1: 20002})
    assert compare(TRACE, ref, _run({0: 20007, 1: 20001})) == []
    assert all(read_tag(f) for _, f in ref.outputs)


def test_a_reordered_flow_a_shared_port_and_a_lost_entry_are_violations():
    ref = _run({0: 20001, 1: 20002})
    n = len(ref.outputs)
    swapped = list(range(n))
    first = [i for i, (_, f) in enumerate(ref.outputs)
             if (read_tag(f) or ())[:2] == (0, FORWARD)][:2]
    swapped[first[0]], swapped[first[1]] = first[1], first[0]
    kinds = {v.kind for v in compare(TRACE, ref, _run({0: 20003, 1: 20004}, swapped))}
    assert kinds == {"order"}
    dropped = _run({0: 20003, 1: 20004}, swapped[1:])
    assert "output" in {v.kind for v in compare(TRACE, ref, dropped)}
    kinds = {v.kind for v in compare(TRACE, ref, _run({0: 20003, 1: 20003}))}
    assert "port" in kinds
    lost = _run({0: 20003, 1: 20004})
    del lost.entries[0][TRACE.endpoints(1).canonical()]
    assert [v.kind for v in compare(TRACE, ref, lost)] == ["state"]
    twice = _run({0: 20003, 1: 20004})
    twice.entries[1] = dict(twice.entries[0])
    assert "placement" in {v.kind for v in compare(TRACE, ref, twice)}
    assert REPLY in {d for d, _ in ref.outputs}
