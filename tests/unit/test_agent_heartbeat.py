"""An agent's heartbeat sender, a real process, against the controller's receiver on loopback:
beats go on while the agent's event loop computes and say how long it has been stalled; a
controller that forgets the agent makes the sender ask the agent to register; a sender that
dies is replaced, and one whose agent is gone exits."""

import asyncio
import os
import signal
import subprocess
import sys
import time

from s6nf.agent.heartbeat import Heartbeats
from s6nf.agent.heartbeat_sender import SenderSettings, parent_stopped
from s6nf.controller.heartbeats import HeartbeatBoard, HeartbeatServer
from s6nf.tls import Material


def spin(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


async def heard_after(board, instance, after, timeout=5.0):
    deadline = time.monotonic() + timeout
    while board.snapshot().get(instance) is None or board.snapshot()[instance].at <= after:
        assert time.monotonic() < deadline, f"no beat from {instance} after {after}"
        await asyncio.sleep(0.02)
    return board.snapshot()[instance]


def test_beats_go_on_through_a_busy_loop_and_report_the_stall():
    board = HeartbeatBoard()
    board.admit([4], time.monotonic())

    async def scenario():
        with HeartbeatServer(board, "127.0.0.1:0", None) as server:
            async with Heartbeats(4, "127.0.0.1:1", None, 0.05) as beats:
                beats.resume(server.port)
                await heard_after(board, 4, time.monotonic())
                busy_from = time.monotonic()
                spin(1.5)
                during = board.snapshot()[4]
                await asyncio.sleep(0.4)
                after = board.snapshot()[4]
        return busy_from, during, after

    busy_from, during, after = asyncio.run(scenario())
    assert during.at > busy_from + 1.2
    assert 1.0 < during.stalled_s < 1.6
    assert after.stalled_s < 0.2 and after.max_stalled_s >= during.stalled_s


def test_a_controller_that_forgets_the_agent_makes_it_register_again():
    board = HeartbeatBoard()
    board.admit([2], time.monotonic())

    async def scenario():
        with HeartbeatServer(board, "127.0.0.1:0", None) as server:
            async with Heartbeats(2, "127.0.0.1:1", None, 0.05) as beats:
                beats.resume(server.port)
                await heard_after(board, 2, time.monotonic())
                board.forget([2])
                await asyncio.wait_for(beats.unregistered.wait(), 3.0)
                await asyncio.sleep(0.3)
                quiet = 2 not in board.snapshot()
                board.admit([2], 0.0)
                beats.resume(server.port)
                await heard_after(board, 2, 0.0)
        return quiet

    assert asyncio.run(scenario())


def test_a_sender_that_dies_is_replaced():
    board = HeartbeatBoard()
    board.admit([5], time.monotonic())

    async def scenario():
        with HeartbeatServer(board, "127.0.0.1:0", None) as server:
            async with Heartbeats(5, "127.0.0.1:1", None, 0.05) as beats:
                beats.resume(server.port)
                await heard_after(board, 5, time.monotonic())
                assert beats.pid is not None
                os.kill(beats.pid, signal.SIGKILL)
                killed_at = time.monotonic()
                await heard_after(board, 5, killed_at + 0.2)
                return beats.started

    assert asyncio.run(scenario()) == 2


def test_a_sender_exits_when_its_agent_is_gone():
    settings = SenderSettings(1, "127.0.0.1", 0.05, 0.05, None)
    sender = subprocess.Popen([sys.executable, "-m", "s6nf.agent.heartbeat_sender"],
                              stdin=subprocess.PIPE, text=True)
    assert sender.stdin is not None
    try:
        sender.stdin.write(settings.to_json() + "\n")
        sender.stdin.flush()
        time.sleep(0.5)
        assert sender.poll() is None
        sender.stdin.close()
        assert sender.wait(timeout=3.0) == 0
    finally:
        sender.kill()
        sender.wait()


def test_a_stopped_process_is_seen_stopped():
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        assert not parent_stopped(sleeper.pid)
        sleeper.send_signal(signal.SIGSTOP)
        deadline = time.monotonic() + 2.0
        while not parent_stopped(sleeper.pid):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        sleeper.send_signal(signal.SIGCONT)
        deadline = time.monotonic() + 2.0
        while parent_stopped(sleeper.pid):
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_the_settings_and_tls_material_cross_the_pipe():
    material = Material(b"root", b"key", b"chain", "nf1", "agent", frozenset({"10.0.0.1"}))
    settings = SenderSettings(1, "10.0.0.2", 0.2, 0.05, material)
    assert SenderSettings.from_json(settings.to_json()) == settings
