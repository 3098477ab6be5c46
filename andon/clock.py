"""Clocks passed into the engine, services and drivers, so tests can move time by hand.

A clock tells the time and sleeps: polling, backoff and reconnect waits go through ``clock.sleep``,
so a test on a ManualClock steps time forward instead of waiting for it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current time as UTC epoch seconds and can wait on it."""

    def now(self) -> float:
        """Return the current time as epoch seconds (UTC)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait until ``seconds`` have passed on this clock."""
        ...


class SystemClock:
    """The machine's wall clock."""

    def now(self) -> float:
        """Return the wall-clock time."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of real time."""
        await asyncio.sleep(seconds)


@dataclass(eq=False)
class _Sleeper:
    deadline: float
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None] = field(repr=False)


class ManualClock:
    """A clock that only moves when told to (tests, simulations, benchmarks); thread-safe.

    ``sleep`` returns once the clock has been moved past its deadline, from any thread; it yields
    to the event loop once even for a zero or negative wait.
    """

    def __init__(self, start: float) -> None:
        self._now = float(start)
        self._lock = threading.Lock()
        self._sleepers: list[_Sleeper] = []

    def now(self) -> float:
        """Return the time the clock was last set to."""
        return self._now

    def set(self, t: float) -> None:
        """Jump to epoch seconds ``t`` and wake the sleepers that are due."""
        with self._lock:
            self._now = float(t)
        self._wake()

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds`` and wake the sleepers that are due."""
        with self._lock:
            self._now += seconds
        self._wake()

    @property
    def sleepers(self) -> int:
        """Return how many tasks are waiting on this clock."""
        with self._lock:
            return len(self._sleepers)

    def next_deadline(self) -> float | None:
        """Return the earliest time a sleeper waits for (None when nobody sleeps)."""
        with self._lock:
            return min((s.deadline for s in self._sleepers), default=None)

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock has been moved ``seconds`` past now."""
        await asyncio.sleep(0)
        loop = asyncio.get_running_loop()
        with self._lock:
            deadline = self._now + seconds
            if deadline <= self._now:
                return
            sleeper = _Sleeper(deadline, loop, loop.create_future())
            self._sleepers.append(sleeper)
        try:
            await sleeper.future
        finally:
            with self._lock:
                if sleeper in self._sleepers:
                    self._sleepers.remove(sleeper)

    def _wake(self) -> None:
        with self._lock:
            due = [s for s in self._sleepers if s.deadline <= self._now]
            for sleeper in due:
                self._sleepers.remove(sleeper)
        for sleeper in due:
            if not sleeper.loop.is_closed():
                sleeper.loop.call_soon_threadsafe(_settle, sleeper.future)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
