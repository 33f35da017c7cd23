"""The IDS checker's pure parts: traces with shared hosts and rule triggers, and how alerts
and port scans are compared (s6nf/equiv/compare_ids.py)."""

from ipaddress import IPv4Address

from s6nf.equiv.compare_ids import compare_ids
from s6nf.equiv.driver import RunRecord
from s6nf.equiv.ids_setup import IDS_CONFIG
from s6nf.equiv.trace import TRIGGERS, FlowSpec, Trace, forward_frame, script
from s6nf.nfs.frames import parse
from s6nf.nfs.ids import payload_of

TRACE = Trace((FlowSpec(True, 2, 0b1111, 0b101101), FlowSpec(False, 2, 0b01, 0b11),
               FlowSpec(True, 0, 0, 0)), (1, 0, 0, 1, 0, 2), 7, hosts=2)


def test_hosts_and_marks_survive_json_and_old_cases_still_load():
    assert Trace.from_json(TRACE.to_json()) == TRACE
    old = Trace.from_json({"flows": [[1, 2, 3]], "picks": [0], "salt": 4})
    assert old == Trace((FlowSpec(True, 2, 3),), (0,), 4) and old.hosts == 0


def test_flows_share_hosts_and_marked_packets_carry_what_the_rules_match():
    assert TRACE.endpoints(0).src == TRACE.endpoints(2).src != TRACE.endpoints(1).src
    assert len(TRACE.flow_of()) == 3
    marked = [s for s in script(0, TRACE.flows[0]) if s.trigger >= 0]
    assert [s.trigger for s in marked] == [(0 + i) % len(TRIGGERS) for i in (0, 2, 3, 5)]
    first = next(s for s in marked if s.direction == 0)
    frame = forward_frame(TRACE, first)[0]
    payload = payload_of(frame, parse(frame))
    assert TRIGGERS[first.trigger] in payload
    key = TRACE.endpoints(0)
    assert [r.sid for r in IDS_CONFIG.rules.match(key.proto, key.src, key.sport, key.dst,
                                                  key.dport, payload)] == [1001]


def _alert(flow: int, sid: int, forward: bool = True) -> dict[str, object]:
    k = TRACE.endpoints(flow)
    src, dst, sport, dport = ((k.src, k.dst, k.sport, k.dport) if forward
                              else (k.dst, k.src, k.dport, k.sport))
    return {"event": "alert", "sid": sid, "proto": "tcp" if k.proto == 6 else "udp",
            "src": str(IPv4Address(src)), "sport": sport, "dst": str(IPv4Address(dst)),
            "dport": dport}


def _scan(src: str, distinct: int) -> dict[str, object]:
    return {"event": "portscan", "src": src, "distinct": distinct}


def _run(*alerts: dict[str, object]) -> RunRecord:
    run = RunRecord()
    run.alerts.extend(alerts)
    return run


def _kinds(ref: RunRecord, got: RunRecord) -> list[str]:
    return [v.kind for v in compare_ids(TRACE, ref, got)]


def test_rule_alerts_are_compared_per_flow_in_order():
    ref = _run(_alert(0, 1001), _alert(1, 1003), _alert(0, 1002, forward=False))
    assert _kinds(ref, _run(_alert(1, 1003), _alert(0, 1001), _alert(0, 1002, False))) == []
    assert _kinds(ref, _run(_alert(0, 1002, False), _alert(0, 1001), _alert(1, 1003))) == [
        "order"]
    assert _kinds(ref, _run(_alert(0, 1001), _alert(1, 1003))) == ["alert"]
    assert _kinds(ref, _run(*ref.alerts, _alert(2, 1001))) == ["alert"]


def test_a_late_or_missing_port_scan_is_its_own_kind_a_double_or_new_one_is_not():
    ref = _run(_scan("10.1.0.1", 3))
    assert _kinds(ref, _run(_scan("10.1.0.1", 3))) == []
    assert _kinds(ref, _run(_scan("10.1.0.1", 4))) == ["scan"]
    assert _kinds(ref, _run()) == ["scan"]
    assert _kinds(ref, _run(_scan("10.1.0.1", 3), _scan("10.1.0.1", 4))) == ["alert"]
    assert _kinds(ref, _run(_scan("10.1.0.1", 3), _scan("10.1.0.2", 3))) == ["alert"]
