"""Errors the server returns, and the batch error format of P4Runtime (spec §12.3)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import grpc
from google.rpc import status_pb2
from p4.v1 import p4runtime_pb2

STATUS_DETAILS_KEY = "grpc-status-details-bin"


class P4RuntimeError(Exception):
    """A request, or one update of a batch, failed with a canonical gRPC code."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"


def rpc_code(code: grpc.StatusCode) -> int:
    """The ``google.rpc.Code`` number of a gRPC status code."""
    number: int = code.value[0]
    return number


@dataclass(frozen=True)
class RichStatus(grpc.Status):  # type: ignore[misc]
    """A gRPC status with ``google.rpc.Status`` details, for ``context.abort_with_status``."""

    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, bytes], ...]


def batch_status(errors: Sequence[P4RuntimeError | None], aborted: str) -> RichStatus:
    """The status of a failed Write: UNKNOWN, with one ``p4.v1.Error`` per update.

    Updates that failed carry their own code. The others were valid but not applied, since
    this target applies a batch all or nothing: they carry ABORTED and ``aborted``. (Not
    OK: nothing of the batch was written, and p4runtime-shell loops forever on OK details.)
    """
    status = status_pb2.Status(code=rpc_code(grpc.StatusCode.UNKNOWN))
    failed = []
    for index, error in enumerate(errors):
        if error is None:
            detail = p4runtime_pb2.Error(
                canonical_code=rpc_code(grpc.StatusCode.ABORTED), message=aborted
            )
        else:
            detail = p4runtime_pb2.Error(canonical_code=rpc_code(error.code), message=error.message)
            failed.append(f"#{index} {error}")
        status.details.add().Pack(detail)
    status.message = f"{len(failed)} of {len(errors)} updates failed: " + "; ".join(failed)
    return RichStatus(
        code=grpc.StatusCode.UNKNOWN,
        details=status.message,
        trailing_metadata=((STATUS_DETAILS_KEY, status.SerializeToString()),),
    )
