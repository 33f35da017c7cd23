"""``s6nf status``'s text: one line for the controller, a block per instance from its
agent's report, and an agent that did not answer shown with why."""

from s6nf.cli_status import format_status

REPLY = {
    "epoch": 4, "load": {"0": 3000, "1": 1096}, "silent": [], "scale_phase": "migrate",
    "members": [{"instance": 1}, {"instance": 0}],
    "instances": {
        "0": {"instance": 0, "epoch": 4,
              "packets": {"forward": 1000, "punted": 20, "drop_pend_full": 7,
                          "drop_bad_ip": 2, "note_vlan": 5},
              "slow_path": {"punted": 20, "reinjected": 18, "dropped_by_nf": 1,
                            "overflowed": 1, "failed": 0, "backlog": 3},
              "maps": {"nat_flows": {"entries": 16384, "capacity": 65536}},
              "migration": {"in_progress": 1, "to_push": 12, "in_flight": 2, "pushed": 40,
                            "received": 0, "pulled": 0},
              "nf": {"new_flows": 9, "table_full": 0}},
        "1": {"instance": 1, "error": "agent 1 unreachable"},
    },
}


def test_status_shows_each_instance_at_a_glance():
    lines = format_status(REPLY).splitlines()
    assert lines[0] == "epoch 4; scale event: migrate; members [0, 1]; silent []"
    assert lines[1] == "instance 0: 3,000 buckets, epoch 4"
    assert lines[2] == ("  packets    forward 1,000, punted 20; dropped 9 (pend_full 7, "
                        "bad_ip 2)")
    assert lines[3].startswith("  slow path  3 queued; punted 20, re-injected 18")
    assert "refused (queue full) 1" in lines[3]
    assert lines[4] == "  maps       nat_flows 16,384/65,536 (25%)"
    assert lines[5] == ("  migration  in progress: 12 to push, 2 in flight; moved so far: "
                        "pushed 40, received 0, pulled 0")
    assert lines[6] == "  NF         new flows 9"
    assert lines[7] == "instance 1: 1,096 buckets; agent did not answer: agent 1 unreachable"
