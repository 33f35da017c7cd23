"""The measurement header every workload packet carries at the start of its L4 payload.

Layout (16 bytes, network byte order; mirrored by ``struct meas_hdr`` in
``ebpf/include/meas.h``)::

    offset 0  magic    u32  0x53364D31 ("S6M1"): only packets carrying it are measured
    offset 4  seq      u32  per-flow sequence number, 0, 1, 2, ... in send order; one sequence
                            per canonical flow (both directions of a connection share it)
    offset 8  send_ns  u64  CLOCK_MONOTONIC ns when the packet left ``gen`` (written by the
                            stamper at TC egress); 0 means not stamped

``send_ns`` sits at an even offset from the L4 header, so the stamper can patch the TCP/UDP
checksum incrementally.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAGIC = 0x53364D31
HEADER = struct.Struct("!IIQ")
HEADER_LEN = HEADER.size
SEND_NS_OFFSET = 8


@dataclass(frozen=True)
class MeasHeader:
    seq: int
    send_ns: int = 0

    def pack(self) -> bytes:
        return HEADER.pack(MAGIC, self.seq, self.send_ns)

    @classmethod
    def unpack(cls, payload: bytes) -> MeasHeader | None:
        """The header at the start of ``payload``, or None when it does not carry one."""
        if len(payload) < HEADER_LEN:
            return None
        magic, seq, send_ns = HEADER.unpack_from(payload)
        return cls(seq, send_ns) if magic == MAGIC else None
