"""Clocks passed into the engine and services, so tests can move time by hand."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current time as UTC epoch seconds."""

    def now(self) -> float:
        """Return the current time as epoch seconds (UTC)."""
        ...


class SystemClock:
    """The machine's wall clock."""

    def now(self) -> float:
        """Return the wall-clock time."""
        return time.time()


class ManualClock:
    """A clock that only moves when told to (tests, simulations, benchmarks)."""

    def __init__(self, start: float) -> None:
        self._now = float(start)

    def now(self) -> float:
        """Return the time the clock was last set to."""
        return self._now

    def set(self, t: float) -> None:
        """Jump to epoch seconds ``t``."""
        self._now = float(t)

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds``."""
        self._now += seconds
