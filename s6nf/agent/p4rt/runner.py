"""Start the steering P4Runtime server: ``serve(backend, address, device_id)``."""

from __future__ import annotations

from concurrent import futures
from pathlib import Path
from types import TracebackType

import grpc
from p4.v1 import p4runtime_pb2_grpc

from s6nf.agent.p4rt.backend import SteeringBackend
from s6nf.agent.p4rt.pipeline import DEFAULT_P4INFO, Pipeline
from s6nf.agent.p4rt.server import SteeringP4Runtime
from s6nf.tls import Material, PeerCheck, SyncPeerInterceptor, add_port
from s6nf.tls.peers import P4RUNTIME

DEFAULT_ADDRESS = "0.0.0.0:9559"
DEFAULT_WORKERS = 32
"""gRPC worker threads; every open StreamChannel holds one for its lifetime."""


class RunningServer:
    """A started server; ``with serve(...) as s:`` stops it on exit."""

    def __init__(self, grpc_server: grpc.Server, servicer: SteeringP4Runtime, host: str,
                 port: int) -> None:
        self.grpc_server = grpc_server
        self.servicer = servicer
        self.port = port
        """The bound port (the real one when the address asked for port 0)."""
        self.address = f"{host}:{port}"

    def stop(self, grace: float | None = None) -> None:
        """Stop serving; open streams end and their clients leave arbitration."""
        self.grpc_server.stop(grace).wait()

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        return bool(self.grpc_server.wait_for_termination(timeout))

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def serve(backend: SteeringBackend, address: str = DEFAULT_ADDRESS, device_id: int = 1, *,
          p4info: Path = DEFAULT_P4INFO, preloaded: bool = False,
          max_workers: int = DEFAULT_WORKERS, tls: Material | None = None) -> RunningServer:
    """Serve the steering pipeline over ``backend`` on ``address`` (``host:port``, port 0 picks).

    Args:
        backend: the data plane the tables live in.
        address: where to listen.
        device_id: the P4Runtime device id clients must use.
        p4info: the pipeline's P4Info; SetForwardingPipelineConfig accepts only this one.
        preloaded: start with the pipeline set (the data plane already runs it), so clients
            may read and write without SetForwardingPipelineConfig.
        max_workers: gRPC worker threads.
        tls: the switch's TLS material: serve with mutual TLS and admit only the
            controller's and the operator's certificates; None serves without TLS.
    """
    servicer = SteeringP4Runtime(backend, device_id, Pipeline.load(p4info), preloaded=preloaded)
    interceptors = [] if tls is None else [SyncPeerInterceptor(PeerCheck("P4Runtime", P4RUNTIME))]
    grpc_server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="p4rt"),
        interceptors=interceptors,
    )
    p4runtime_pb2_grpc.add_P4RuntimeServicer_to_server(servicer, grpc_server)
    port = add_port(grpc_server, address, tls)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    grpc_server.start()
    host = address.rsplit(":", 1)[0]
    return RunningServer(grpc_server, servicer, host, port)
