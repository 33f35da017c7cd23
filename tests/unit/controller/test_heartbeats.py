"""The heartbeat receiver over real gRPC on loopback: it reads beats in its own threads, so a
controller whose event loop is blocked still records when each one arrived."""

import asyncio
import threading
import time

import grpc
import pytest

from s6nf.controller.heartbeats import SERVICE, HeartbeatBoard, HeartbeatServer
from s6nf.rpc import RpcError, SyncJsonClient


def beat_every(address, instance, period, stop, replies):
    client = SyncJsonClient(address, SERVICE, timeout_s=1.0)
    try:
        while not stop.wait(period):
            try:
                client.call("Beat", {"instance": instance, "stalled_s": 0.25})
                replies.append(time.monotonic())
            except RpcError as exc:
                replies.append(exc.code)
    finally:
        client.close()


def test_beats_are_recorded_while_the_event_loop_is_blocked():
    board = HeartbeatBoard()
    board.admit([3], time.monotonic())

    async def blocked_loop():
        with HeartbeatServer(board, "127.0.0.1:0", None) as server:
            stop = threading.Event()
            replies: list[object] = []
            sender = threading.Thread(target=beat_every, args=(
                f"127.0.0.1:{server.port}", 3, 0.05, stop, replies))
            sender.start()
            await asyncio.sleep(0.3)
            blocked_at = time.monotonic()
            time.sleep(1.5)
            during = board.snapshot()[3]
            stop.set()
            sender.join()
            return blocked_at, during, replies

    blocked_at, during, replies = asyncio.run(blocked_loop())
    assert during.at > blocked_at + 1.2
    assert during.stalled_s == 0.25 and during.max_stalled_s == 0.25
    assert all(isinstance(r, float) for r in replies)


def test_a_beat_from_an_unknown_instance_is_not_found_and_a_bad_one_refused():
    board = HeartbeatBoard()
    board.admit([1], 0.0)
    with HeartbeatServer(board, "127.0.0.1:0", None) as server:
        client = SyncJsonClient(f"127.0.0.1:{server.port}", SERVICE, timeout_s=2.0)
        try:
            with pytest.raises(RpcError) as unknown:
                client.call("Beat", {"instance": 2})
            with pytest.raises(RpcError) as negative:
                client.call("Beat", {"instance": 1, "stalled_s": -1})
            with pytest.raises(RpcError) as wrong:
                client.call("Beat", {"instance": "one"})
            client.call("Beat", {"instance": 1})
        finally:
            client.close()
    assert unknown.value.code == grpc.StatusCode.NOT_FOUND
    assert negative.value.code == wrong.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert board.snapshot()[1].at > 0.0
    board.forget([1])
    assert board.snapshot() == {}
