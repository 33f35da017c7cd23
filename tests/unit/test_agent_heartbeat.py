"""An agent's heartbeat thread against the controller's receiver on loopback: beats go on
while the agent's event loop is held in a CPU-bound section and say how long it has been
stalled; a controller that forgets the agent makes the thread ask the loop to register."""

import asyncio
import time

from s6nf.agent.heartbeat import Heartbeats, LoopProgress
from s6nf.controller.heartbeats import HeartbeatBoard, HeartbeatServer


def spin(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def test_beats_go_on_through_a_busy_loop_and_report_the_stall():
    board = HeartbeatBoard()
    board.admit([4], time.monotonic())

    async def scenario():
        with HeartbeatServer(board, "127.0.0.1:0", None) as server:
            progress = LoopProgress()
            ticking = asyncio.create_task(progress.run())
            beats = Heartbeats(4, "127.0.0.1:1", None, 0.05, progress)
            beats.resume(server.port)
            await asyncio.sleep(0.3)
            before = beats.sent
            busy_from = time.monotonic()
            spin(1.5)
            during = board.snapshot()[4]
            sent = beats.sent - before
            await asyncio.sleep(0.3)
            after = board.snapshot()[4]
            ticking.cancel()
            await beats.stop()
            return busy_from, during, sent, after

    busy_from, during, sent, after = asyncio.run(scenario())
    assert sent >= 10, f"only {sent} beats in 1.5 s of a busy loop (every 0.05 s expected)"
    assert during.at > busy_from + 1.2
    assert 1.0 < during.stalled_s < 1.6
    assert after.stalled_s < 0.2 and after.max_stalled_s >= during.stalled_s


def test_a_controller_that_forgets_the_agent_makes_it_register_again():
    board = HeartbeatBoard()
    board.admit([2], time.monotonic())

    async def scenario():
        with HeartbeatServer(board, "127.0.0.1:0", None) as server:
            progress = LoopProgress()
            beats = Heartbeats(2, "127.0.0.1:1", None, 0.05, progress)
            beats.resume(server.port)
            await asyncio.sleep(0.2)
            heard = beats.sent
            board.forget([2])
            await asyncio.wait_for(beats.unregistered.wait(), 2.0)
            paused_at = beats.sent
            await asyncio.sleep(0.3)
            paused = beats.sent == paused_at
            board.admit([2], time.monotonic())
            beats.resume(server.port)
            await asyncio.sleep(0.3)
            await beats.stop()
            return heard, paused, beats.sent - paused_at

    heard, paused, resumed = asyncio.run(scenario())
    assert heard >= 1 and paused and resumed >= 2
