"""The P4Runtime service of the steering pipeline over a ``SteeringBackend``.

One device, one pipeline: SetForwardingPipelineConfig accepts only the P4Info of
``p4/steer.p4info.txtpb`` (the data plane is the fixed eBPF program); the device config
bytes are kept and returned but mean nothing to this target. Only the primary client of a
role may write; every role has full access. Write batches are all or nothing for every
atomicity mode (see ``writer``). Reads need no arbitration.
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc
from p4.v1 import p4runtime_pb2, p4runtime_pb2_grpc

from s6nf.agent.p4rt.arbitration import Arbiter, Session, election_id_of
from s6nf.agent.p4rt.backend import SteeringBackend
from s6nf.agent.p4rt.entries import EntryCodec
from s6nf.agent.p4rt.errors import P4RuntimeError, batch_status
from s6nf.agent.p4rt.pipeline import Pipeline
from s6nf.agent.p4rt.reader import Reader
from s6nf.agent.p4rt.writer import BatchFailed, BatchWriter

log = logging.getLogger(__name__)

READ_CHUNK = 1024
"""Entities per ReadResponse."""

ABORTED_MESSAGE = "not applied: another update of the batch failed, and batches are all or nothing"

Config = p4runtime_pb2.ForwardingPipelineConfig
SetRequest = p4runtime_pb2.SetForwardingPipelineConfigRequest
GetRequest = p4runtime_pb2.GetForwardingPipelineConfigRequest
R = TypeVar("R")


def _api_version() -> str:
    try:
        return importlib.metadata.version("p4runtime")
    except importlib.metadata.PackageNotFoundError:
        return "1.4.1"


class SteeringP4Runtime(p4runtime_pb2_grpc.P4RuntimeServicer):  # type: ignore[misc]
    """P4RuntimeServicer for one device running the steering pipeline."""

    def __init__(self, backend: SteeringBackend, device_id: int, pipeline: Pipeline,
                 preloaded: bool = False) -> None:
        check_fits(backend, pipeline)
        self.device_id = device_id
        self.pipeline = pipeline
        self._backend = backend
        codec = EntryCodec(pipeline, backend.buckets)
        self._writer = BatchWriter(codec, backend)
        self._reader = Reader(codec, backend)
        self._exclusive = threading.RLock()
        self.arbiter = Arbiter(device_id, self._exclusive)
        self._config: p4runtime_pb2.ForwardingPipelineConfig | None = (
            Config(p4info=pipeline.p4info) if preloaded else None
        )
        self._saved: p4runtime_pb2.ForwardingPipelineConfig | None = None

    def Write(self, request: p4runtime_pb2.WriteRequest,
              context: grpc.ServicerContext) -> p4runtime_pb2.WriteResponse:
        def write() -> p4runtime_pb2.WriteResponse:
            with self._exclusive:
                self._check_device(request.device_id)
                self._check_primary(request, "write")
                self._check_pipeline()
                try:
                    self._writer.write(request.updates)
                except BatchFailed as failed:
                    context.abort_with_status(batch_status(failed.errors, ABORTED_MESSAGE))
            return p4runtime_pb2.WriteResponse()

        return _answer(context, write)

    def Read(self, request: p4runtime_pb2.ReadRequest,
             context: grpc.ServicerContext) -> Iterator[p4runtime_pb2.ReadResponse]:
        try:
            self._check_device(request.device_id)
            self._check_pipeline()
            response = p4runtime_pb2.ReadResponse()
            for entity in self._reader.read(request.entities):
                response.entities.append(entity)
                if len(response.entities) >= READ_CHUNK:
                    yield response
                    response = p4runtime_pb2.ReadResponse()
            yield response
        except P4RuntimeError as error:
            context.abort(error.code, error.message)

    def SetForwardingPipelineConfig(
        self, request: p4runtime_pb2.SetForwardingPipelineConfigRequest,
        context: grpc.ServicerContext,
    ) -> p4runtime_pb2.SetForwardingPipelineConfigResponse:
        def set_config() -> p4runtime_pb2.SetForwardingPipelineConfigResponse:
            with self._exclusive:
                self._check_device(request.device_id)
                self._check_primary(request, "set the pipeline")
                self._set_config(request)
            return p4runtime_pb2.SetForwardingPipelineConfigResponse()

        return _answer(context, set_config)

    def GetForwardingPipelineConfig(
        self, request: p4runtime_pb2.GetForwardingPipelineConfigRequest,
        context: grpc.ServicerContext,
    ) -> p4runtime_pb2.GetForwardingPipelineConfigResponse:
        def get_config() -> p4runtime_pb2.GetForwardingPipelineConfigResponse:
            self._check_device(request.device_id)
            response = p4runtime_pb2.GetForwardingPipelineConfigResponse()
            with self._exclusive:
                config = self._config
            if config is None:
                return response
            response.config.cookie.CopyFrom(config.cookie)
            kind = request.response_type
            if kind in (GetRequest.ALL, GetRequest.P4INFO_AND_COOKIE):
                response.config.p4info.CopyFrom(config.p4info)
            if kind in (GetRequest.ALL, GetRequest.DEVICE_CONFIG_AND_COOKIE):
                response.config.p4_device_config = config.p4_device_config
            return response

        return _answer(context, get_config)

    def Capabilities(self, request: p4runtime_pb2.CapabilitiesRequest,
                     context: grpc.ServicerContext) -> p4runtime_pb2.CapabilitiesResponse:
        return p4runtime_pb2.CapabilitiesResponse(p4runtime_api_version=_api_version())

    def StreamChannel(self, request_iterator: Iterator[p4runtime_pb2.StreamMessageRequest],
                      context: grpc.ServicerContext
                      ) -> Iterator[p4runtime_pb2.StreamMessageResponse]:
        session = Session(context.peer())
        context.add_callback(session.close)
        pump = threading.Thread(
            target=self._pump, args=(session, request_iterator),
            name=f"p4rt-stream-{session.peer}", daemon=True,
        )
        pump.start()
        try:
            for item in session.outgoing():
                if isinstance(item, P4RuntimeError):
                    log.info("ending stream of %s: %s", session.peer, item)
                    context.abort(item.code, item.message)
                yield item
        finally:
            self.arbiter.leave(session)

    def _pump(self, session: Session,
              requests: Iterator[p4runtime_pb2.StreamMessageRequest]) -> None:
        """Read a stream's requests until the client closes it or an update ends it."""
        try:
            for request in requests:
                kind = request.WhichOneof("update")
                if kind == "arbitration":
                    try:
                        self.arbiter.update(session, request.arbitration)
                    except P4RuntimeError as error:
                        session.fail(error)
                        return
                elif session.role is None:
                    session.fail(P4RuntimeError(
                        grpc.StatusCode.FAILED_PRECONDITION,
                        f"send a MasterArbitrationUpdate before {kind}",
                    ))
                    return
                else:
                    session.send(_stream_error(request, kind))
        except grpc.RpcError:
            pass
        finally:
            session.close()

    def _check_device(self, device_id: int) -> None:
        if device_id != self.device_id:
            raise P4RuntimeError(
                grpc.StatusCode.NOT_FOUND,
                f"unknown device_id {device_id}; this server is device {self.device_id}",
            )

    def _check_primary(self, request: Any, what: str) -> None:
        election_id = election_id_of(request)
        if not self.arbiter.is_primary(request.role, election_id):
            primary = self.arbiter.primary_of(request.role)
            raise P4RuntimeError(
                grpc.StatusCode.PERMISSION_DENIED,
                f"only the primary client of role {request.role!r} may {what}: "
                f"election_id {election_id} is not the primary's ({primary})",
            )

    def _check_pipeline(self) -> None:
        if self._config is None:
            raise P4RuntimeError(
                grpc.StatusCode.FAILED_PRECONDITION,
                "no forwarding pipeline config set; send SetForwardingPipelineConfig first",
            )

    def _set_config(self, request: p4runtime_pb2.SetForwardingPipelineConfigRequest) -> None:
        action = request.action
        if action == SetRequest.UNSPECIFIED:
            raise P4RuntimeError(grpc.StatusCode.INVALID_ARGUMENT, "action is UNSPECIFIED")
        if action == SetRequest.COMMIT:
            if self._saved is None:
                raise P4RuntimeError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    "COMMIT without a saved config; send VERIFY_AND_SAVE first",
                )
            self._writer.clear()
            self._config, self._saved = self._saved, None
            return
        self._verify(request.config)
        if action == SetRequest.VERIFY_AND_SAVE:
            self._saved = Config()
            self._saved.CopyFrom(request.config)
        elif action in (SetRequest.VERIFY_AND_COMMIT, SetRequest.RECONCILE_AND_COMMIT):
            if action == SetRequest.VERIFY_AND_COMMIT:
                self._writer.clear()
            self._config = Config()
            self._config.CopyFrom(request.config)
            self._saved = None

    def _verify(self, config: p4runtime_pb2.ForwardingPipelineConfig) -> None:
        problems = self.pipeline.differences(config.p4info)
        if problems:
            shown = "; ".join(problems[:5])
            more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            raise P4RuntimeError(
                grpc.StatusCode.INVALID_ARGUMENT,
                "this target runs only the s6nf steering pipeline (p4/steer.p4info.txtpb); "
                f"the P4Info differs: {shown}{more}",
            )


def check_fits(backend: SteeringBackend, pipeline: Pipeline) -> None:
    """Refuse a backend whose tables are not the sizes the P4Info promises."""
    sizes = {pipeline.key_space.size, pipeline.bucket_counter.size}
    if sizes != {backend.buckets}:
        raise ValueError(
            f"backend has {backend.buckets} buckets but the P4Info's key_space has "
            f"{pipeline.key_space.size} entries and bucket_counter {pipeline.bucket_counter.size}"
        )
    if backend.max_pins > pipeline.flow_pin.size:
        raise ValueError(
            f"backend holds {backend.max_pins} flow pins, more than the P4Info's flow_pin size "
            f"{pipeline.flow_pin.size}"
        )


def _answer(context: grpc.ServicerContext, handler: Callable[[], R]) -> R:
    try:
        return handler()
    except P4RuntimeError as error:
        context.abort(error.code, error.message)
        raise  # context.abort raises; this line only satisfies the type checker


def _stream_error(request: p4runtime_pb2.StreamMessageRequest,
                  kind: str | None) -> p4runtime_pb2.StreamMessageResponse:
    response = p4runtime_pb2.StreamMessageResponse()
    response.error.canonical_code = grpc.StatusCode.UNIMPLEMENTED.value[0]
    response.error.message = f"this target has no packet I/O or digests; dropped {kind}"
    if kind == "packet":
        response.error.packet_out.packet_out.CopyFrom(request.packet)
    return response
