"""The arbiter alone, without gRPC: sessions are queues of advisory messages."""

import threading
from typing import Any

import grpc
import pytest
from p4.v1 import p4runtime_pb2

from s6nf.agent.p4rt.arbitration import Arbiter, Session
from s6nf.agent.p4rt.errors import P4RuntimeError

OK, NOT_FOUND, ALREADY_EXISTS = 0, 5, 6


def claim(eid: tuple[int, int] | None = None, device_id: int = 1, role: str = "") -> Any:
    update = p4runtime_pb2.MasterArbitrationUpdate(device_id=device_id)
    if role:
        update.role.name = role
    if eid is not None:
        update.election_id.high, update.election_id.low = eid
    return update


def drain(session: Session) -> list[int]:
    session.close()
    return [m.arbitration.status.code for m in session.outgoing() if not isinstance(m, Exception)]


@pytest.fixture
def arbiter():
    return Arbiter(1, threading.RLock())


def test_highest_ever_seen_wins_and_ties_to_the_past_reclaim(arbiter):
    a, b = Session("a"), Session("b")
    arbiter.update(a, claim((0, 5)))
    arbiter.update(b, claim((0, 9)))
    assert arbiter.is_primary("", (0, 9))
    assert not arbiter.is_primary("", (0, 5))
    assert drain(a) == [OK, ALREADY_EXISTS]
    assert drain(b) == [OK]


def test_leaving_primary_leaves_no_primary(arbiter):
    a, b = Session("a"), Session("b")
    arbiter.update(a, claim((0, 9)))
    arbiter.update(b, claim((0, 5)))
    arbiter.leave(a)
    assert arbiter.primary_of("") is None
    assert drain(b) == [ALREADY_EXISTS, NOT_FOUND]


def test_new_primary_hears_last(arbiter):
    a, b = Session("a"), Session("b")
    arbiter.update(a, claim((0, 1)))
    arbiter.update(b, claim((0, 2)))
    assert drain(a)[-1] == ALREADY_EXISTS
    assert drain(b) == [OK]


@pytest.mark.parametrize(("first", "second", "code"), [
    (claim((0, 1)), claim((0, 1), device_id=2), grpc.StatusCode.FAILED_PRECONDITION),
    (claim((0, 1)), claim((0, 1), role="other"), grpc.StatusCode.FAILED_PRECONDITION),
    (None, claim((0, 1), device_id=2), grpc.StatusCode.NOT_FOUND),
])
def test_bad_updates_end_the_stream(arbiter, first, second, code):
    session = Session("s")
    if first is not None:
        arbiter.update(session, first)
    with pytest.raises(P4RuntimeError) as error:
        arbiter.update(session, second)
    assert error.value.code == code


def test_role_config_is_refused(arbiter):
    update = claim((0, 1))
    update.role.name = "r"
    update.role.config.Pack(p4runtime_pb2.Error())
    with pytest.raises(P4RuntimeError, match="role config"):
        arbiter.update(Session("s"), update)
