import asyncio

import pytest

from s6nf.agent.dso import Overflow
from s6nf.agent.dso.microthreads import KeyedExecutor, KeyTurns


def test_work_for_one_key_runs_in_arrival_order_and_a_parked_key_blocks_only_itself():
    async def main() -> None:
        ex = KeyedExecutor()
        order: list[tuple[str, int]] = []
        gate = asyncio.Event()

        def job(key: str, i: int, wait: bool = False):
            async def run() -> None:
                if wait:
                    await gate.wait()
                order.append((key, i))

            return run

        ex.submit("a", job("a", 0, wait=True))
        for i in range(1, 4):
            ex.submit("a", job("a", i))
            ex.submit("b", job("b", i))
        await asyncio.sleep(0.01)
        assert order == [("b", 1), ("b", 2), ("b", 3)]
        gate.set()
        await ex.idle()
        assert [i for k, i in order if k == "a"] == [0, 1, 2, 3]
        assert ex.done == 7 and ex.queued("a") == 0

    asyncio.run(main())


def test_full_key_queue_refuses_the_newest_item_and_counts_it():
    async def main() -> None:
        ex = KeyedExecutor(max_per_key=2)
        gate = asyncio.Event()

        async def wait() -> None:
            await gate.wait()

        ex.submit("k", wait)
        ex.submit("k", wait)
        with pytest.raises(Overflow, match="'k'"):
            ex.submit("k", wait)
        assert ex.overflows == 1
        ex.submit("other", wait)
        gate.set()
        await ex.idle()

    asyncio.run(main())


def test_a_failing_item_is_counted_and_the_next_one_still_runs():
    async def main() -> None:
        ex = KeyedExecutor()
        ran: list[int] = []

        async def boom() -> None:
            raise ValueError("bad packet")

        async def ok() -> None:
            ran.append(1)

        ex.submit("k", boom)
        ex.submit("k", ok)
        await ex.idle()
        assert ex.failures == 1 and ran == [1]

    asyncio.run(main())


def test_turns_are_fifo_and_survive_a_cancelled_waiter():
    async def main() -> None:
        turns = KeyTurns()
        got: list[int] = []
        await turns.acquire(b"k")

        async def take(i: int) -> None:
            await turns.acquire(b"k")
            got.append(i)
            turns.release(b"k")

        tasks = [asyncio.create_task(take(i)) for i in range(4)]
        await asyncio.sleep(0)
        assert turns.waiting(b"k") == 4
        tasks[1].cancel()
        turns.release(b"k")
        await asyncio.gather(*tasks, return_exceptions=True)
        assert got == [0, 2, 3] and not turns.busy(b"k")

    asyncio.run(main())
