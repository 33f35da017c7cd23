import grpc
import pytest
from p4.v1 import p4runtime_pb2

from s6nf.agent.p4rt import Drop, Forward, Verdict
from s6nf.agent.p4rt.entries import EntryCodec, TableKey
from s6nf.agent.p4rt.errors import P4RuntimeError
from s6nf.agent.p4rt.pipeline import Table
from s6nf.keys import FlowKey
from tests.p4rt_client import KS, PIN, PIPELINE, ks_entry, pin_entry

CODEC = EntryCodec(PIPELINE, 4096)
FLOW = FlowKey.of("10.1.2.3", "10.1.2.3", 9000, 53, 17)


def test_entries_round_trip():
    cases: list[tuple[Table, TableKey, Verdict]] = [
        (PIPELINE.key_space, 4095, Forward(511, b"\xff" * 6)),
        (PIPELINE.flow_pin, FLOW.canonical(), Drop()),
    ]
    for table, key, verdict in cases:
        message = CODEC.entry(table, key, verdict)
        assert CODEC.key(table, message) == key
        assert CODEC.verdict(table, message.action) == verdict


def test_pin_key_is_the_canonical_key():
    message = pin_entry(FLOW.canonical())
    assert CODEC.key(CODEC.table(PIN.id), message) == FLOW.canonical()


def test_missing_match_fields_are_named():
    message = pin_entry(FLOW.canonical())
    del message.match[1:3]
    with pytest.raises(P4RuntimeError, match="addr_hi, port_lo") as error:
        CODEC.key(CODEC.table(PIN.id), message)
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_non_exact_match_is_refused():
    message = ks_entry(1)
    message.match[0].ClearField("exact")
    message.match[0].lpm.value = b"\x01"
    message.match[0].lpm.prefix_len = 8
    with pytest.raises(P4RuntimeError, match="lpm"):
        CODEC.key(CODEC.table(KS.id), message)


@pytest.mark.parametrize(("field", "value"), [
    ("priority", 1), ("idle_timeout_ns", 10), ("controller_metadata", 1)])
def test_fields_an_exact_table_cannot_hold_are_refused(field, value):
    message = ks_entry(1)
    setattr(message, field, value)
    with pytest.raises(P4RuntimeError):
        CODEC.check_plain(CODEC.table(KS.id), message)


def test_action_profiles_are_refused():
    action = p4runtime_pb2.TableAction(action_profile_member_id=1)
    with pytest.raises(P4RuntimeError, match="action profile"):
        CODEC.verdict(CODEC.table(KS.id), action)
