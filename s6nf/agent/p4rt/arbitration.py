"""Client arbitration (P4Runtime spec §5): one primary per (device, role), the others backups.

The primary is the live client whose election id is at least the highest the server has ever
seen for that role (``election_id_past``). When the primary leaves or downgrades itself there
is no primary until a client claims an id at least that high. Advisory updates go to every
client of the role whenever the primary changes, and only to the sender otherwise.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import grpc
from google.rpc import status_pb2
from p4.v1 import p4runtime_pb2

from s6nf.agent.p4rt.errors import P4RuntimeError, rpc_code

ElectionId = tuple[int, int]
"""(high, low), ordered as the 128-bit number it stands for."""

Outgoing = Any
"""A StreamMessageResponse to send, a P4RuntimeError that ends the stream, or None (end)."""


class Session:
    """One StreamChannel: what the server sends it, and who it claims to be."""

    def __init__(self, peer: str) -> None:
        self.peer = peer
        self.role: str | None = None
        """The role of its first arbitration update; None before it."""
        self.election_id: ElectionId | None = None
        self._outbox: queue.SimpleQueue[Outgoing] = queue.SimpleQueue()

    def send(self, message: p4runtime_pb2.StreamMessageResponse) -> None:
        self._outbox.put(message)

    def fail(self, error: P4RuntimeError) -> None:
        """End the stream with ``error``."""
        self._outbox.put(error)

    def close(self) -> None:
        """End the stream normally (the client closed its side, or the RPC ended)."""
        self._outbox.put(None)

    def outgoing(self) -> Iterator[p4runtime_pb2.StreamMessageResponse | P4RuntimeError]:
        """Messages to send, then at most one error, until the session ends."""
        while (item := self._outbox.get()) is not None:
            yield item
            if isinstance(item, P4RuntimeError):
                return


class Arbiter:
    """Tracks the clients of one device and elects a primary per role.

    ``exclusive`` is held while the primary changes, so a Write that holds it too finishes
    before the new primary is announced (spec §5.4).
    """

    def __init__(self, device_id: int, exclusive: AbstractContextManager[object]) -> None:
        self.device_id = device_id
        self._exclusive = exclusive
        self._lock = threading.Lock()
        self._clients: dict[str, list[Session]] = {}
        self._primary: dict[str, Session] = {}
        self._highest: dict[str, ElectionId] = {}

    def update(self, session: Session, update: p4runtime_pb2.MasterArbitrationUpdate) -> None:
        """Handle an arbitration update from ``session``; P4RuntimeError ends the stream."""
        role = update.role.name
        first = session.role is None
        if update.device_id != self.device_id:
            code = grpc.StatusCode.NOT_FOUND if first else grpc.StatusCode.FAILED_PRECONDITION
            raise P4RuntimeError(
                code, f"unknown device_id {update.device_id}; this is device {self.device_id}"
            )
        if not first and role != session.role:
            raise P4RuntimeError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"this stream has role {session.role!r}, got {role!r}; open a new stream to change",
            )
        if update.role.HasField("config"):
            raise P4RuntimeError(
                grpc.StatusCode.INVALID_ARGUMENT,
                "role config is not supported: every role has full pipeline access",
            )
        election_id = _election_id(update)
        with self._exclusive, self._lock:
            clients = self._clients.setdefault(role, [])
            if election_id is not None and any(
                c is not session and c.election_id == election_id for c in clients
            ):
                raise P4RuntimeError(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"election_id {election_id} is in use by another client of role {role!r}",
                )
            if first:
                clients.append(session)
                session.role = role
            session.election_id = election_id
            past = self._highest.get(role)
            previous = self._primary.get(role)
            if election_id is not None and (past is None or election_id >= past):
                self._primary[role] = session
                self._highest[role] = election_id
                self._advise(role, clients)
            elif previous is session:
                del self._primary[role]
                self._advise(role, clients)
            else:
                self._advise(role, [session])

    def leave(self, session: Session) -> None:
        """Forget a client whose stream ended; if it was primary, tell the others."""
        if session.role is None:
            return
        with self._exclusive, self._lock:
            clients = self._clients.get(session.role, [])
            if session in clients:
                clients.remove(session)
            if self._primary.get(session.role) is session:
                del self._primary[session.role]
                self._advise(session.role, clients)

    def is_primary(self, role: str, election_id: ElectionId | None) -> bool:
        with self._lock:
            primary = self._primary.get(role)
            return primary is not None and election_id == primary.election_id

    def primary_of(self, role: str) -> ElectionId | None:
        with self._lock:
            primary = self._primary.get(role)
            return None if primary is None else primary.election_id

    def _advise(self, role: str, sessions: list[Session]) -> None:
        """Send each of ``sessions`` the role's state, the primary last (spec §5.4)."""
        primary = self._primary.get(role)
        past = self._highest.get(role)
        for session in sorted(sessions, key=lambda s: s is primary):
            message = p4runtime_pb2.StreamMessageResponse()
            update = message.arbitration
            update.device_id = self.device_id
            if role:
                update.role.name = role
            if past is not None:
                update.election_id.high, update.election_id.low = past
            update.status.CopyFrom(_status(primary, session))
            session.send(message)


def _status(primary: Session | None, session: Session) -> status_pb2.Status:
    if primary is session:
        return status_pb2.Status(code=rpc_code(grpc.StatusCode.OK), message="primary")
    if primary is not None:
        return status_pb2.Status(
            code=rpc_code(grpc.StatusCode.ALREADY_EXISTS),
            message=f"backup: the primary has election_id {primary.election_id}",
        )
    return status_pb2.Status(code=rpc_code(grpc.StatusCode.NOT_FOUND), message="backup: no primary")


def _election_id(update: p4runtime_pb2.MasterArbitrationUpdate) -> ElectionId | None:
    if not update.HasField("election_id"):
        return None
    return (update.election_id.high, update.election_id.low)


def election_id_of(message: p4runtime_pb2.WriteRequest) -> ElectionId | None:
    """The election id a Write or SetForwardingPipelineConfig request claims, if any."""
    if not message.HasField("election_id"):
        return None
    return (message.election_id.high, message.election_id.low)
