"""Bad input never crashes an agent: the caller gets a clear error, others are unaffected."""

import asyncio
import marshal
import socket
import struct
import time

import grpc

from s6nf.agent.dso.transport import METHOD_PATH
from s6nf.agent.dso.wire import Kind, Status, decode_frame, encode_frame, encode_message
from s6nf.keyspace import initial
from tests.integration.dso.conftest import HOST, S, key_homed_at, running
from tests.integration.dso.scenarios import COUNTERS, FLOWS


def call(req_id: int, map_id: int, method: int, key: bytes, body: bytes, epoch: int = 0) -> bytes:
    return encode_message(Kind.CALL, 0, map_id, method, epoch, req_id, key, body)


async def raw_session(port: int, frames: list[bytes], expect: int) -> dict[int, tuple[int, bytes]]:
    async with grpc.aio.insecure_channel(f"{HOST}:{port}") as channel:
        stream = channel.stream_stream(METHOD_PATH)()
        await stream.write(encode_frame([encode_message(Kind.HELLO, 0, 0, 0, 0, 0, b"",
                                                        struct.pack("!I", 9))]))
        for frame in frames:
            await stream.write(frame)
        replies: dict[int, tuple[int, bytes]] = {}
        while len(replies) < expect:
            frame = await asyncio.wait_for(stream.read(), 10)
            for msg in decode_frame(frame):
                replies[msg.req_id] = (msg.status, msg.body)
        stream.cancel()
        return replies


def test_malformed_and_unknown_requests_get_error_answers():
    ks = initial([0, 1], 64)
    key = key_homed_at(ks, 0)
    good_args = marshal.dumps(())
    read = COUNTERS.by_name["read"].index
    frames = [
        struct.pack("!HBH", 0xBEEF, 1, 0),
        encode_frame([call(7, COUNTERS.map_id, read, key, good_args)])[:-3],
        encode_frame([call(8, 99, 0, key, good_args)]),
        encode_frame([call(9, COUNTERS.map_id, 50, key, good_args)]),
        encode_frame([call(10, COUNTERS.map_id, read, key, b"\xff\x00junk")]),
        encode_frame([call(11, FLOWS.map_id, 0, key, good_args)]),
        encode_frame([encode_message(Kind.PUSH, 0, FLOWS.map_id, 0, 0, 12, b"", b"\x00\x05ab")]),
        encode_frame([call(13, COUNTERS.map_id, read, key, good_args, epoch=77)]),
        encode_frame([call(14, COUNTERS.map_id, read, key, good_args)]),
    ]
    with running(ks, [0, 1]) as procs:
        replies = asyncio.run(raw_session(procs[0].port, frames, 9))
        assert replies[0][0] == Status.MALFORMED and b"magic 0xbeef" in replies[0][1]
        assert replies[7][0] == Status.MALFORMED
        assert replies[8][0] == Status.UNKNOWN_MAP and b"99" in replies[8][1]
        assert replies[9][0] == Status.UNKNOWN_METHOD and b"50" in replies[9][1]
        assert replies[10][0] == Status.MALFORMED
        assert replies[11][0] == Status.UNKNOWN_MAP
        assert replies[12][0] == Status.MALFORMED
        assert replies[13][0] == Status.BAD_EPOCH and b"77" in replies[13][1]
        assert replies[14] == (Status.OK, marshal.dumps(0))
        assert procs[1].run(S + "touch", key) == 1
        assert procs[0].run(S + "touch", key) == 2


def test_a_peer_that_dies_mid_call_fails_the_call_not_hangs():
    """With no failover after it (no controller here), within the call timeout: an access
    waits that long for one before it gives up (``after_failover``)."""
    ks = initial([0, 1, 2], 64)
    key, other = key_homed_at(ks, 0), key_homed_at(ks, 2)
    with running(ks, [0, 1, 2], call_timeout_s=2.0) as procs:
        procs[0].submit(S + "hold", key, "never")
        procs[0].run(S + "wait_pinned", key)
        waiting = procs[1].submit(S + "try_touch", key)
        procs[0].run(S + "waiting_at_home", key, 0)
        t0 = time.monotonic()
        procs[0].kill()
        outcome = procs[1].result(waiting, 10)
        assert outcome.startswith("PeerLost") and "instance 0" in outcome
        assert time.monotonic() - t0 < 2.0 + 2
        assert procs[1].run(S + "touch", other) == 1
        assert procs[1].run(S + "try_touch", key).startswith("PeerLost")


def test_a_key_whose_home_is_unreachable_is_a_clear_error():
    ks = initial([0, 1, 2], 64)
    key, other = key_homed_at(ks, 2), key_homed_at(ks, 0)
    with socket.socket() as s:
        s.bind((HOST, 0))
        dead = s.getsockname()[1]
    with running(ks, [0, 1]) as procs:
        for p in procs.values():
            p.run("s6nf.agent.dso.host:set_addresses", {2: f"{HOST}:{dead}"})
        outcome = procs[1].run(S + "try_touch", key)
        assert outcome.startswith("PeerLost") and "instance 2" in outcome
        assert procs[1].run(S + "touch", other) == 1
