"""The controller's P4Runtime client: arbitration, batched key-space writes, read-back.

Target-agnostic: a device address, device id, P4Info and (optionally) a device config are
all it needs. Writes are safe to retry: existing entries are written with MODIFY, which is
idempotent, and a retried INSERT that meets ALREADY_EXISTS is checked against a read-back.
A lost connection or lost primacy (a restarted target has no primary) makes the client
arbitrate again before it retries.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc
from google.rpc import code_pb2, status_pb2
from p4.v1 import p4runtime_pb2, p4runtime_pb2_grpc

from s6nf.agent.p4rt.codec import decode, encode
from s6nf.agent.p4rt.pipeline import DEFAULT_P4INFO, Pipeline
from s6nf.controller.model import Steer
from s6nf.tls import Material, aio_channel

RETRIES = 3


class P4RuntimeWriteError(RuntimeError):
    """A batch failed; ``failures`` lists (update index, status code name, message)."""

    def __init__(self, failures: list[tuple[int, str, str]]) -> None:
        self.failures = failures
        listed = "; ".join(f"#{i} {code}: {msg}" for i, code, msg in failures[:10])
        more = f" (+{len(failures) - 10} more)" if len(failures) > 10 else ""
        super().__init__(f"P4Runtime write failed for {len(failures)} updates: {listed}{more}")


class NotPrimary(RuntimeError):
    """Another client holds a higher election id for this device."""


@dataclass(frozen=True)
class DeviceConfig:
    address: str
    """host:port of the device's P4Runtime server."""
    device_id: int = 1
    election_id: tuple[int, int] = (0, 1)
    """(high, low); the controller must hold the highest to write."""
    p4info: Path = DEFAULT_P4INFO
    device_config: Path | None = None
    """Target-specific pipeline binary (bmv2 JSON); None for targets preloaded with it."""


class P4RuntimeClient:
    """Speaks to one device; over mutual TLS when ``tls`` (the controller's material) is
    given."""

    def __init__(self, config: DeviceConfig, tls: Material | None = None) -> None:
        self.config = config
        self.tls = tls
        self.pipeline = Pipeline.load(config.p4info)
        self._channel: grpc.aio.Channel | None = None
        self._stub: p4runtime_pb2_grpc.P4RuntimeStub | None = None
        self._requests: asyncio.Queue[p4runtime_pb2.StreamMessageRequest | None] = asyncio.Queue()
        self._stream_task: asyncio.Task[None] | None = None
        self._arbitrated: asyncio.Future[p4runtime_pb2.MasterArbitrationUpdate] | None = None

    async def connect(self, timeout_s: float = 5.0) -> None:
        """Open the channel and become primary; raises NotPrimary if another client is."""
        await self.close()
        self._channel = aio_channel(self.config.address, self.tls)
        self._stub = p4runtime_pb2_grpc.P4RuntimeStub(self._channel)
        self._requests = asyncio.Queue()
        self._arbitrated = asyncio.get_running_loop().create_future()
        self._stream_task = asyncio.create_task(self._stream(), name="p4rt-stream")
        request = p4runtime_pb2.StreamMessageRequest()
        request.arbitration.device_id = self.config.device_id
        request.arbitration.election_id.high, request.arbitration.election_id.low = (
            self.config.election_id)
        await self._requests.put(request)
        update = await asyncio.wait_for(self._arbitrated, timeout_s)
        if update.status.code != code_pb2.OK:
            raise NotPrimary(f"device {self.config.device_id} at {self.config.address}: "
                             f"{update.status.message or 'not primary'}")

    async def _outgoing(self) -> AsyncIterator[p4runtime_pb2.StreamMessageRequest]:
        while (request := await self._requests.get()) is not None:
            yield request

    async def _stream(self) -> None:
        assert self._stub is not None
        try:
            async for response in self._stub.StreamChannel(self._outgoing()):
                if response.HasField("arbitration") and self._arbitrated is not None \
                        and not self._arbitrated.done():
                    self._arbitrated.set_result(response.arbitration)
        except grpc.aio.AioRpcError as exc:
            if self._arbitrated is not None and not self._arbitrated.done():
                self._arbitrated.set_exception(
                    ConnectionError(f"P4Runtime stream to {self.config.address}: {exc.details()}"))

    async def close(self) -> None:
        if self._stream_task is not None:
            await self._requests.put(None)
            self._stream_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._stream_task
            self._stream_task = None
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    @property
    def stream_lost(self) -> bool:
        """The arbitration stream ended (the target restarted or went away): primacy is gone
        even if the channel itself reconnects, so the next write must arbitrate again."""
        return self._stream_task is not None and self._stream_task.done()

    @property
    def stub(self) -> p4runtime_pb2_grpc.P4RuntimeStub:
        if self._stub is None:
            raise ConnectionError("P4Runtime client is not connected")
        return self._stub

    async def ensure_pipeline(self) -> None:
        """Push the pipeline unless the device already runs this P4Info (tables are kept)."""
        request = p4runtime_pb2.GetForwardingPipelineConfigRequest(
            device_id=self.config.device_id,
            response_type=p4runtime_pb2.GetForwardingPipelineConfigRequest.P4INFO_AND_COOKIE)
        try:
            reply = await self.stub.GetForwardingPipelineConfig(request)
            if not self.pipeline.differences(reply.config.p4info):
                return
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.FAILED_PRECONDITION:
                raise
        push = p4runtime_pb2.SetForwardingPipelineConfigRequest(
            device_id=self.config.device_id,
            action=p4runtime_pb2.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT)
        push.election_id.high, push.election_id.low = self.config.election_id
        push.config.p4info.CopyFrom(self.pipeline.p4info)
        if self.config.device_config is not None:
            push.config.p4_device_config = self.config.device_config.read_bytes()
        await self.stub.SetForwardingPipelineConfig(push)

    async def read_key_space(self) -> dict[int, Steer | None]:
        """Every key_space entry: bucket → Steer, or None for an explicit drop."""
        entity = p4runtime_pb2.Entity()
        entity.table_entry.table_id = self.pipeline.key_space.id
        request = p4runtime_pb2.ReadRequest(device_id=self.config.device_id)
        request.entities.append(entity)
        out: dict[int, Steer | None] = {}
        port_field, mac_field = self.pipeline.forward.params
        async for reply in self.stub.Read(request):
            for e in reply.entities:
                entry = e.table_entry
                bucket = int.from_bytes(entry.match[0].exact.value, "big")
                action = entry.action.action
                if action.action_id == self.pipeline.forward.id:
                    params = {p.param_id: p.value for p in action.params}
                    port = decode(params[port_field.id], port_field.bitwidth, "port")
                    mac = decode(params[mac_field.id], mac_field.bitwidth, "dmac")
                    out[bucket] = Steer(port, mac.to_bytes(mac_field.bitwidth // 8, "big"))
                else:
                    out[bucket] = None
        return out

    def _fill(self, entry: p4runtime_pb2.TableEntry, bucket: int, steer: Steer) -> None:
        """Fill ``entry`` in place: with pure-Python protobuf, CopyFrom costs as much again."""
        entry.table_id = self.pipeline.key_space.id
        entry.match.add(field_id=1).exact.value = encode(bucket)
        action = entry.action.action
        action.action_id = self.pipeline.forward.id
        port_field, mac_field = self.pipeline.forward.params
        action.params.add(param_id=port_field.id, value=encode(steer.port))
        action.params.add(param_id=mac_field.id, value=encode(int.from_bytes(steer.dmac, "big")))

    async def write_key_space(self, updates: Mapping[int, Steer], present: set[int]) -> None:
        """Write ``updates`` in one batch: MODIFY for buckets in ``present``, INSERT otherwise.
        Retried on a lost connection; raises P4RuntimeWriteError on refusal."""
        request = p4runtime_pb2.WriteRequest(device_id=self.config.device_id)
        request.election_id.high, request.election_id.low = self.config.election_id
        request.atomicity = p4runtime_pb2.WriteRequest.DATAPLANE_ATOMIC
        for bucket, steer in sorted(updates.items()):
            kind = p4runtime_pb2.Update.MODIFY if bucket in present else p4runtime_pb2.Update.INSERT
            self._fill(request.updates.add(type=kind).entity.table_entry, bucket, steer)
        for attempt in range(RETRIES):
            try:
                if self.stream_lost:
                    await self.connect()
                await self.stub.Write(request)
                return
            except grpc.aio.AioRpcError as exc:
                lost = exc.code() in (grpc.StatusCode.UNAVAILABLE,
                                      grpc.StatusCode.PERMISSION_DENIED)
                if lost and attempt + 1 < RETRIES:
                    await self.connect()
                    continue
                failures = _batch_failures(exc)
                if failures and all(code == "ALREADY_EXISTS" or code == "ABORTED"
                                    for _, code, _ in failures) and attempt > 0:
                    back = await self.read_key_space()
                    if all(back.get(b) == s for b, s in updates.items()):
                        return
                raise P4RuntimeWriteError(failures or [(-1, exc.code().name,
                                                        exc.details() or "")]) from exc


def _batch_failures(exc: grpc.aio.AioRpcError) -> list[tuple[int, str, str]]:
    """The per-update errors the spec puts in the status details (p4.v1.Error each)."""
    for key, value in exc.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            out = []
            for index, detail in enumerate(status.details):
                error = p4runtime_pb2.Error()
                detail.Unpack(error)
                if error.canonical_code != code_pb2.OK:
                    out.append((index, code_pb2.Code.Name(error.canonical_code), error.message))
            return out
    return []
