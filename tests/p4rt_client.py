"""A small P4Runtime client over the p4.v1 stubs, for tests of the steering server."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import grpc
from google.rpc import status_pb2
from p4.v1 import p4runtime_pb2, p4runtime_pb2_grpc

from s6nf.agent.p4rt.codec import encode
from s6nf.agent.p4rt.pipeline import Pipeline

PIPELINE = Pipeline.load()
KS, PIN = PIPELINE.key_space, PIPELINE.flow_pin
FORWARD, DROP = PIPELINE.forward, PIPELINE.drop
COUNTER = PIPELINE.bucket_counter
TIMEOUT = 5.0
Update = p4runtime_pb2.Update


def forward_action(port: int, dmac: bytes) -> p4runtime_pb2.TableAction:
    action = p4runtime_pb2.TableAction()
    action.action.action_id = FORWARD.id
    action.action.params.add(param_id=1, value=encode(port))
    action.action.params.add(param_id=2, value=dmac)
    return action


def drop_action() -> p4runtime_pb2.TableAction:
    action = p4runtime_pb2.TableAction()
    action.action.action_id = DROP.id
    return action


def ks_entry(bucket: int, port: int | None = 1, dmac: bytes = b"\x02\0\0\0\0\x01",
             raw_bucket: bytes | None = None) -> p4runtime_pb2.TableEntry:
    entry = p4runtime_pb2.TableEntry(table_id=KS.id)
    value = raw_bucket if raw_bucket is not None else encode(bucket)
    entry.match.add(field_id=1).exact.value = value
    if port is not None:
        entry.action.CopyFrom(forward_action(port, dmac))
    return entry


def pin_entry(canonical: bytes, port: int | None = 2,
              dmac: bytes = b"\x02\0\0\0\0\x02") -> p4runtime_pb2.TableEntry:
    values = (canonical[0:4], canonical[4:8], canonical[8:10], canonical[10:12], canonical[12:13])
    entry = p4runtime_pb2.TableEntry(table_id=PIN.id)
    for field_id, value in enumerate(values, start=1):
        entry.match.add(field_id=field_id).exact.value = value
    if port is not None:
        entry.action.CopyFrom(forward_action(port, dmac))
    return entry


def update(kind: int, entry: p4runtime_pb2.TableEntry) -> p4runtime_pb2.Update:
    u = p4runtime_pb2.Update(type=kind)
    u.entity.table_entry.CopyFrom(entry)
    return u


def batch_errors(error: grpc.RpcError) -> list[tuple[int, str]]:
    """(canonical code, message) per update of a failed Write (spec §12.3)."""
    assert error.code() == grpc.StatusCode.UNKNOWN, error
    details = dict(error.trailing_metadata())["grpc-status-details-bin"]
    status = status_pb2.Status.FromString(details)
    result = []
    for any_detail in status.details:
        p4_error = p4runtime_pb2.Error()
        assert any_detail.Unpack(p4_error)
        result.append((p4_error.canonical_code, p4_error.message))
    return result


class Client:
    """One controller: a channel, a StreamChannel and an election id."""

    def __init__(self, address: str, device_id: int = 1, role: str = "",
                 credentials: grpc.ChannelCredentials | None = None) -> None:
        self.device_id = device_id
        self.role = role
        self.election_id: tuple[int, int] | None = None
        self.channel = (grpc.insecure_channel(address) if credentials is None
                        else grpc.secure_channel(address, credentials))
        self.stub = p4runtime_pb2_grpc.P4RuntimeStub(self.channel)
        self._requests: queue.SimpleQueue[p4runtime_pb2.StreamMessageRequest | None] = (
            queue.SimpleQueue()
        )
        self.responses: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._stream = self.stub.StreamChannel(self._outgoing())
        self._receiver = threading.Thread(target=self._receive, daemon=True)
        self._receiver.start()

    def _outgoing(self) -> Iterator[p4runtime_pb2.StreamMessageRequest]:
        while (request := self._requests.get()) is not None:
            yield request

    def _receive(self) -> None:
        try:
            for response in self._stream:
                self.responses.put(response)
        except grpc.RpcError as error:
            self.responses.put(error)
        self.responses.put(None)

    def arbitrate(self, election_id: tuple[int, int] | None, device_id: int | None = None,
                  ) -> p4runtime_pb2.MasterArbitrationUpdate:
        request = p4runtime_pb2.StreamMessageRequest()
        request.arbitration.device_id = self.device_id if device_id is None else device_id
        if self.role:
            request.arbitration.role.name = self.role
        if election_id is not None:
            request.arbitration.election_id.high, request.arbitration.election_id.low = election_id
        self.election_id = election_id
        self._requests.put(request)
        return self.next_arbitration()

    def send(self, request: p4runtime_pb2.StreamMessageRequest) -> None:
        self._requests.put(request)

    def next_message(self) -> object:
        return self.responses.get(timeout=TIMEOUT)

    def next_arbitration(self) -> p4runtime_pb2.MasterArbitrationUpdate:
        message = self.next_message()
        if isinstance(message, grpc.RpcError):
            raise message
        assert isinstance(message, p4runtime_pb2.StreamMessageResponse), message
        assert message.HasField("arbitration"), message
        return message.arbitration

    def pending(self) -> bool:
        return not self.responses.empty()

    def write(self, *updates: p4runtime_pb2.Update,
              election_id: tuple[int, int] | None = None) -> None:
        request = p4runtime_pb2.WriteRequest(device_id=self.device_id, role=self.role)
        eid = election_id or self.election_id
        if eid is not None:
            request.election_id.high, request.election_id.low = eid
        request.updates.extend(updates)
        self.stub.Write(request, timeout=TIMEOUT)

    def read(self, *entities: p4runtime_pb2.Entity,
             device_id: int | None = None) -> list[p4runtime_pb2.Entity]:
        request = p4runtime_pb2.ReadRequest(
            device_id=self.device_id if device_id is None else device_id
        )
        request.entities.extend(entities)
        return [e for r in self.stub.Read(request, timeout=TIMEOUT) for e in r.entities]

    def read_table(self, table_id: int) -> list[p4runtime_pb2.TableEntry]:
        entity = p4runtime_pb2.Entity()
        entity.table_entry.table_id = table_id
        return [e.table_entry for e in self.read(entity)]

    def set_pipeline(self, action: int, p4info: object | None = None, cookie: int = 0,
                     device_config: bytes = b"") -> None:
        request = p4runtime_pb2.SetForwardingPipelineConfigRequest(
            device_id=self.device_id, role=self.role, action=action
        )
        if self.election_id is not None:
            request.election_id.high, request.election_id.low = self.election_id
        request.config.p4info.CopyFrom(PIPELINE.p4info if p4info is None else p4info)
        request.config.cookie.cookie = cookie
        request.config.p4_device_config = device_config
        self.stub.SetForwardingPipelineConfig(request, timeout=TIMEOUT)

    def close(self) -> None:
        self._requests.put(None)
        self._receiver.join(TIMEOUT)
        self.channel.close()
