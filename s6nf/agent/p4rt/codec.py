"""P4Runtime binary strings <-> integers, with the width checks of the spec (§8.4)."""

from __future__ import annotations

import grpc

from s6nf.agent.p4rt.errors import P4RuntimeError


def decode(data: bytes, bitwidth: int, what: str) -> int:
    """The unsigned value of ``data`` for a ``bitwidth``-bit field named ``what``.

    Accepts the canonical form (no leading zero bytes) and the form padded to the field's
    byte width; refuses empty strings, longer strings and values that do not fit.
    """
    if not data:
        raise P4RuntimeError(grpc.StatusCode.INVALID_ARGUMENT, f"{what}: empty value")
    if len(data) > (bitwidth + 7) // 8:
        raise P4RuntimeError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"{what}: {len(data)} bytes ({data.hex()}) for a {bitwidth}-bit field",
        )
    value = int.from_bytes(data, "big")
    if value >> bitwidth:
        raise P4RuntimeError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"{what}: value {value:#x} does not fit in {bitwidth} bits",
        )
    return value


def encode(value: int) -> bytes:
    """The canonical binary string of ``value``: big-endian, shortest, at least one byte."""
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
