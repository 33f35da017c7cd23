"""The state channel's frame encoding: batches of fixed-header messages.

Protobuf is pure Python below 3.21, so the hot path uses ``struct`` instead. A frame is::

    magic u16 'S6' | version u8 | count u16 | count x message

and every message is one 24-byte header followed by the key and the body::

    kind u8 | status u8 | map_id u16 | method u16 | epoch u32 | req_id u64 |
    key_len u16 | body_len u32 | key | body

Requests carry a ``req_id`` (0 for one-way messages); a ``REPLY`` carries the request's id and
a status. ``decode_frame`` checks every length and kind and raises ``MalformedFrame`` naming
the offending value, so a receiver can answer with an error instead of crashing.
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import NamedTuple

MAGIC = 0x5336
VERSION = 1
MAX_KEY_LEN = 1024
MAX_BODY_LEN = 16 << 20
MAX_FRAME_MESSAGES = 0xFFFF

_FRAME = struct.Struct("!HBH")
_HEADER = struct.Struct("!BBHHIQHI")
FRAME_HEADER_LEN = _FRAME.size
MESSAGE_HEADER_LEN = _HEADER.size


class Kind(IntEnum):
    HELLO = 1
    """Body: the sender's instance id as u32; sent first on every stream a client opens."""
    ACQUIRE = 2
    """SingleWriter: ask the home for ownership of (map, key); ``status`` holds ``Flag`` bits;
    the body is empty, or the original requester's id (u32) when an agent forwards it."""
    FETCH = 3
    """Give me (map, key) and delete your copy: home to owner (``Flag.REVOKE``), or new home
    to old home (a pull). IN_FLIGHT answers carry the push destination's id (u32)."""
    PUSH = 4
    """An object's bytes sent to its home during migration; answered with a REPLY (the ack)."""
    CALL = 5
    """MultiWriter strict or stale call; body is the marshalled argument tuple."""
    CAST = 6
    """MultiWriter untether call: one-way, no reply."""
    REPLY = 7
    """Answer to the request with the same ``req_id``; ``status`` says how it went."""
    SYNC = 8
    """A barrier behind the one-way messages sent before it on the same stream: answered once
    the receiver has handled them (applied, queued at their home or sent on); with
    ``Flag.DEEP``, once what it sent on has been handled too (``sync.py``)."""
    SETTLE = 9
    """New steering target to previous one: answer once your micro-threads have no work left
    for flows of these buckets (body: u32 buckets; ``handoff.py``)."""
    REPLICA = 10
    """Backups (``replica``): ``status`` holds a ``ReplicaOp``; the body is PUSH entries."""


class Flag(IntEnum):
    CREATE = 1
    REMOVE = 2
    REVOKE = 4
    """On FETCH: sent by the home whose directory names the receiver as owner (not a pull)."""
    DEEP = 8
    """On SYNC: also sync what the receiver forwarded before it answers."""
    HOLDER = 16
    """On CALL: the caller holds SingleWriter objects (it is inside an ``access`` block), so
    a stop-and-copy pause at the home must not hold the call: that pause may be waiting for
    the copy of what the caller holds."""
    COPY = 32
    """On PUSH: the objects are copies a failover promoted, not live ones; a receiver that
    holds one of them, or knows who does, keeps its own."""
    KEEP_COPY = 64
    """On FETCH: the asker (a home) will hold the object itself. The giver keeps the bytes it
    gives as the asker's copy until the asker's own backup has one: without it, a home that
    died between the pull and its first backup took the only copy with it."""


class Status(IntEnum):
    OK = 0
    NOT_FOUND = 1
    CREATE = 2
    """Grant of an object that does not exist yet: the accessor creates it."""
    IN_FLIGHT = 3
    """The object was already pushed to the requester; wait for it to arrive."""
    HELD = 4
    """Local only, never sent: the home itself asked and already holds the object."""
    UNKNOWN_MAP = 10
    UNKNOWN_METHOD = 11
    MALFORMED = 12
    APP_ERROR = 13
    UNREACHABLE = 14
    OVERFLOW = 15
    BAD_EPOCH = 16
    INTERNAL = 17


class Message(NamedTuple):
    kind: int
    status: int
    map_id: int
    method: int
    epoch: int
    req_id: int
    key: bytes
    body: bytes


class MalformedFrame(ValueError):
    """A frame or message that does not decode; the text names the offending value."""


def encode_message(
    kind: int,
    status: int,
    map_id: int,
    method: int,
    epoch: int,
    req_id: int,
    key: bytes,
    body: bytes,
) -> bytes:
    """One message's bytes; ``struct.error`` if a field is out of its range."""
    return _HEADER.pack(kind, status, map_id, method, epoch, req_id, len(key), len(body)) + (
        key + body
    )


def encode_frame(messages: list[bytes]) -> bytes:
    if len(messages) > MAX_FRAME_MESSAGES:
        raise ValueError(
            f"a frame holds at most {MAX_FRAME_MESSAGES} messages, got {len(messages)}"
        )
    return _FRAME.pack(MAGIC, VERSION, len(messages)) + b"".join(messages)


def decode_frame(frame: bytes) -> list[Message]:
    """All messages of ``frame``; raises ``MalformedFrame`` on any inconsistency."""
    if len(frame) < FRAME_HEADER_LEN:
        raise MalformedFrame(f"frame of {len(frame)} bytes is shorter than its header")
    magic, version, count = _FRAME.unpack_from(frame, 0)
    if magic != MAGIC:
        raise MalformedFrame(f"bad frame magic 0x{magic:04x}, expected 0x{MAGIC:04x}")
    if version != VERSION:
        raise MalformedFrame(f"unsupported frame version {version}, expected {VERSION}")
    out: list[Message] = []
    pos, end = FRAME_HEADER_LEN, len(frame)
    unpack = _HEADER.unpack_from
    for index in range(count):
        if pos + MESSAGE_HEADER_LEN > end:
            raise MalformedFrame(f"message {index} of {count}: header truncated at byte {pos}")
        kind, status, map_id, method, epoch, req_id, key_len, body_len = unpack(frame, pos)
        if not Kind.HELLO <= kind <= Kind.REPLICA:
            raise MalformedFrame(f"message {index}: unknown kind {kind}")
        if key_len > MAX_KEY_LEN:
            raise MalformedFrame(f"message {index}: key length {key_len} > {MAX_KEY_LEN}")
        pos += MESSAGE_HEADER_LEN
        stop = pos + key_len + body_len
        if stop > end:
            raise MalformedFrame(
                f"message {index}: key {key_len} + body {body_len} bytes overrun the frame "
                f"({end - pos} left)"
            )
        key, body = frame[pos:pos + key_len], frame[pos + key_len:stop]
        out.append(Message(kind, status, map_id, method, epoch, req_id, key, body))
        pos = stop
    if pos != end:
        raise MalformedFrame(f"{end - pos} trailing bytes after {count} messages")
    return out


def first_req_ids(frame: bytes) -> list[int]:
    """Request ids readable from a frame that failed to decode, so their senders get an error.

    Reads headers until the first inconsistency; one-way messages (id 0) are left out.
    """
    ids: list[int] = []
    if len(frame) < FRAME_HEADER_LEN:
        return ids
    _, _, count = _FRAME.unpack_from(frame, 0)
    pos = FRAME_HEADER_LEN
    for _ in range(count):
        if pos + MESSAGE_HEADER_LEN > len(frame):
            break
        kind, _, _, _, _, req_id, key_len, body_len = _HEADER.unpack_from(frame, pos)
        if req_id and kind != Kind.REPLY:
            ids.append(req_id)
        pos += MESSAGE_HEADER_LEN + key_len + body_len
    return ids


_ENTRY = struct.Struct("!HI")


def encode_entries(entries: list[tuple[bytes, bytes]]) -> bytes:
    """A PUSH body: (key, object bytes) pairs as ``key_len u16 | data_len u32 | key | data``."""
    pack = _ENTRY.pack
    return b"".join(pack(len(k), len(d)) + k + d for k, d in entries)


def decode_entries(body: bytes) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    pos, end = 0, len(body)
    unpack = _ENTRY.unpack_from
    while pos < end:
        if pos + _ENTRY.size > end:
            raise MalformedFrame(f"entry {len(out)}: header truncated at byte {pos}")
        key_len, data_len = unpack(body, pos)
        pos += _ENTRY.size
        stop = pos + key_len + data_len
        if key_len > MAX_KEY_LEN or stop > end:
            raise MalformedFrame(
                f"entry {len(out)}: key {key_len} + data {data_len} bytes overrun the body"
            )
        out.append((body[pos:pos + key_len], body[pos + key_len:stop]))
        pos = stop
    return out
