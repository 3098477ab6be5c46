"""Driving driver tasks on a ManualClock while they talk to a real peer.

Time moves only when the test moves it, and only while every driver waits on the clock, so each
poll, retry and reconnect wait ends at its own due time, whatever the machine's speed. A driver task
that ends (it should run until cancelled) fails the test at once, with the driver's own error.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from andon.clock import ManualClock

PEER_SECONDS = 10.0  # longest a real peer (a socket, a server) may take to answer: a guard, not a wait


def check_running(*tasks: asyncio.Task[Any]) -> None:
    """Fail when a driver task has ended: drivers run until cancelled, faults included."""
    for task in tasks:
        if not task.done():
            continue
        if task.cancelled():
            raise AssertionError(f"driver task {task.get_name()} was cancelled")
        error = task.exception()
        if error is not None:
            raise AssertionError(f"driver task {task.get_name()} died: {error!r}") from error
        raise AssertionError(f"driver task {task.get_name()} returned; it should run until cancelled")


async def eventually(predicate: Callable[[], bool], *tasks: asyncio.Task[Any], timeout: float = PEER_SECONDS) -> None:
    """Let the loop run, the clock standing still, until ``predicate`` holds; fail when a task ends."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        check_running(*tasks)
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.002)
    check_running(*tasks)


async def idle(clock: ManualClock, *tasks: asyncio.Task[Any]) -> None:
    """Wait until every driver task waits on the clock (its request, if any, answered)."""
    await eventually(lambda: clock.sleepers >= len(tasks), *tasks)


async def stepping(clock: ManualClock, predicate: Callable[[], bool], *tasks: asyncio.Task[Any],
                   timeout: float = PEER_SECONDS) -> None:
    """Until ``predicate`` holds, move the clock to the next wake-up whenever every driver waits on it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        check_running(*tasks)
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (clock at {clock.now()})")
        due = clock.next_deadline()
        if due is not None and clock.sleepers >= len(tasks):
            clock.set(max(due, clock.now()))
        await asyncio.sleep(0.002)
    check_running(*tasks)


async def advance(clock: ManualClock, seconds: float, *tasks: asyncio.Task[Any]) -> None:
    """Move the clock ``seconds`` on through every wake-up on the way; return once the drivers wait again."""
    target = clock.now() + seconds
    while True:
        await idle(clock, *tasks)
        due = clock.next_deadline()
        if due is None or due > target:
            break
        clock.set(due)
    clock.set(target)
    await idle(clock, *tasks)


async def polls(clock: ManualClock, count: int, *tasks: asyncio.Task[Any]) -> None:
    """Let the drivers wake ``count`` times (each wake-up one poll of a polled source)."""
    for _ in range(count):
        await idle(clock, *tasks)
        due = clock.next_deadline()
        assert due is not None
        clock.set(max(due, clock.now()))
    await idle(clock, *tasks)


async def cancel(*tasks: asyncio.Task[Any]) -> None:
    """Cancel driver tasks, wait for their clean-up, and fail if one had ended or died on its own."""
    ended = [task for task in tasks if task.done()]
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for task, result in zip(tasks, results, strict=True):
        if task in ended or not isinstance(result, asyncio.CancelledError):
            check_running(task)


class RunningSource:
    """Run one driver on its own event loop thread for the length of a test (for drivers that block)."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.loop = asyncio.new_event_loop()
        self.error: BaseException | None = None
        self.ended = False
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._task = self.loop.create_task(self.source.run())
        try:
            self.loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        except BaseException as exc:
            self.error = exc
        finally:
            self.ended = True
            self.loop.close()

    def check(self) -> None:
        """Fail when the driver has ended before the test stopped it."""
        if self.error is not None:
            raise AssertionError(f"source crashed: {self.error!r}") from self.error
        if self.ended:
            raise AssertionError("source ended before it was stopped")

    def until(self, predicate: Callable[[], bool], timeout: float = PEER_SECONDS) -> None:
        """Wait, the clock standing still, until ``predicate`` holds; fail when the driver ends."""
        deadline = time.monotonic() + timeout
        while not predicate():
            self.check()
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout} s")
            time.sleep(0.002)
        self.check()

    def stepping(self, clock: ManualClock, predicate: Callable[[], bool], timeout: float = PEER_SECONDS) -> None:
        """Until ``predicate`` holds, move the clock to the next wake-up whenever the driver waits on it."""
        deadline = time.monotonic() + timeout
        while not predicate():
            self.check()
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout} s (clock at {clock.now()})")
            due = clock.next_deadline()
            if due is not None:
                clock.set(max(due, clock.now()))
            time.sleep(0.002)
        self.check()

    def advance(self, clock: ManualClock, seconds: float) -> None:
        """Move the clock ``seconds`` on through every wake-up on the way; return once the driver waits again."""
        target = clock.now() + seconds
        while True:
            self.until(lambda: clock.sleepers >= 1)
            due = clock.next_deadline()
            if due is None or due > target:
                break
            clock.set(due)
        clock.set(target)
        self.until(lambda: clock.sleepers >= 1)

    def __enter__(self) -> RunningSource:
        self._thread.start()
        deadline = time.monotonic() + 5
        while self._task is None and time.monotonic() < deadline:
            time.sleep(0.002)
        assert self._task is not None, "source did not start"
        return self

    def __exit__(self, *exc: Any) -> None:
        task = self._task
        assert task is not None
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(task.cancel)
        self._thread.join(10)
        assert not self._thread.is_alive(), "source did not stop when cancelled"
        assert self.error is None, f"source crashed: {self.error!r}"


async def set_clock(clock: ManualClock, t: float, *tasks: asyncio.Task[Any]) -> None:
    """Set the clock to ``t`` once every driver waits on it, so the jump wakes each of them exactly once."""
    await idle(clock, *tasks)
    clock.set(t)
