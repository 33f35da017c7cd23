"""Client arbitration over StreamChannel (spec §5): who is primary, who is told what."""

from typing import Any

import grpc
import pytest
from p4.v1 import p4runtime_pb2

from tests.p4rt_client import Update, ks_entry, update

OK, NOT_FOUND, ALREADY_EXISTS = 0, 5, 6
COMMIT = p4runtime_pb2.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT


def election(update_message: Any) -> tuple[int, int]:
    return (update_message.election_id.high, update_message.election_id.low)


def test_only_the_primary_writes_and_a_higher_id_takes_over(connect, backend):
    first = connect()
    assert first.arbitrate((0, 10)).status.code == OK
    first.set_pipeline(COMMIT)

    backup = connect()
    answer = backup.arbitrate((0, 5))
    assert (answer.status.code, election(answer)) == (ALREADY_EXISTS, (0, 10))
    assert not first.pending()
    with pytest.raises(grpc.RpcError) as failure:
        backup.write(update(Update.INSERT, ks_entry(1)))
    assert failure.value.code() == grpc.StatusCode.PERMISSION_DENIED

    usurper = connect()
    assert usurper.arbitrate((1, 0)).status.code == OK
    for other in (first, backup):
        notice = other.next_arbitration()
        assert (notice.status.code, election(notice)) == (ALREADY_EXISTS, (1, 0))
    with pytest.raises(grpc.RpcError) as failure:
        first.write(update(Update.INSERT, ks_entry(1)))
    assert failure.value.code() == grpc.StatusCode.PERMISSION_DENIED
    usurper.write(update(Update.INSERT, ks_entry(1)))
    assert set(backend.read_key_space()) == {1}


def test_when_the_primary_leaves_nobody_is_primary_until_a_high_enough_claim(connect):
    primary, backup = connect(), connect()
    primary.arbitrate((0, 10))
    assert backup.arbitrate((0, 5)).status.code == ALREADY_EXISTS
    primary.close()
    notice = backup.next_arbitration()
    assert (notice.status.code, election(notice)) == (NOT_FOUND, (0, 10))
    assert backup.arbitrate((0, 6)).status.code == NOT_FOUND
    assert backup.arbitrate((0, 10)).status.code == OK


def test_a_primary_that_lowers_its_id_steps_down_and_everyone_hears(connect):
    primary, backup = connect(), connect()
    primary.arbitrate((0, 10))
    backup.arbitrate((0, 5))
    assert primary.arbitrate((0, 1)).status.code == NOT_FOUND
    assert backup.next_arbitration().status.code == NOT_FOUND


def test_a_client_without_election_id_is_a_backup(connect):
    observer = connect()
    answer = observer.arbitrate(None)
    assert answer.status.code == NOT_FOUND
    assert not answer.HasField("election_id")


def test_roles_elect_their_own_primaries(connect):
    default, steering = connect(), connect(role="steering")
    assert default.arbitrate((0, 1)).status.code == OK
    answer = steering.arbitrate((0, 1))
    assert answer.status.code == OK
    assert answer.role.name == "steering"


def test_a_duplicate_election_id_ends_the_stream(connect):
    connect().arbitrate((0, 7))
    twin = connect()
    with pytest.raises(grpc.RpcError) as failure:
        twin.arbitrate((0, 7))
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_an_unknown_device_ends_the_stream(connect):
    stranger = connect()
    with pytest.raises(grpc.RpcError) as failure:
        stranger.arbitrate((0, 1), device_id=99)
    assert failure.value.code() == grpc.StatusCode.NOT_FOUND
    assert "99" in failure.value.details()


def test_a_stream_must_start_with_arbitration(connect):
    client = connect()
    request = p4runtime_pb2.StreamMessageRequest()
    request.packet.payload = b"\x00"
    client.send(request)
    message = client.next_message()
    assert isinstance(message, grpc.RpcError)
    assert message.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_packet_out_is_answered_with_a_stream_error(connect):
    client = connect()
    client.arbitrate((0, 1))
    request = p4runtime_pb2.StreamMessageRequest()
    request.packet.payload = b"\x01\x02"
    client.send(request)
    message = client.next_message()
    assert message.error.canonical_code == grpc.StatusCode.UNIMPLEMENTED.value[0]
    assert message.error.packet_out.packet_out.payload == b"\x01\x02"
