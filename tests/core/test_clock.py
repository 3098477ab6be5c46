"""The manual clock sleeps: a task waiting on it wakes when, and only when, the clock passes its deadline."""

from __future__ import annotations

import asyncio
import threading

from andon.clock import ManualClock


def test_sleepers_wake_when_the_clock_passes_their_deadline() -> None:
    clock = ManualClock(1000.0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    async def main() -> None:
        tasks = [asyncio.create_task(sleeper("a", 5)), asyncio.create_task(sleeper("b", 10)),
                 asyncio.create_task(sleeper("now", 0))]
        while clock.sleepers < 2:
            await asyncio.sleep(0)
        assert woke == [("now", 1000.0)] and clock.next_deadline() == 1005.0
        clock.advance(4.9)
        await asyncio.sleep(0.01)
        assert woke == [("now", 1000.0)]
        # Moved from another thread, as a test moves it while drivers run on a loop thread.
        threading.Thread(target=clock.advance, args=(0.1,)).start()
        await tasks[0]
        assert woke[-1] == ("a", 1005.0)
        clock.set(1010.0)
        await tasks[1]
        assert woke == [("now", 1000.0), ("a", 1005.0), ("b", 1010.0)] and clock.sleepers == 0

    asyncio.run(main())


def test_a_cancelled_sleeper_is_forgotten() -> None:
    clock = ManualClock(0.0)

    async def main() -> None:
        task = asyncio.create_task(clock.sleep(60))
        while clock.sleepers == 0:
            await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert clock.sleepers == 0 and clock.next_deadline() is None

    asyncio.run(main())
