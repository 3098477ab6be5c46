"""Shared by the stack light and andon button tests: an AndonActions that records its calls."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pytest


@dataclass
class RecordingActions:
    """An AndonActions recording every call as (action, line, station, category, source)."""

    calls: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    refuse: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _record(self, action: str, line: str, station: str, category: str, source: str) -> int:
        if self.refuse is not None:
            raise ValueError(self.refuse)
        with self.lock:
            self.calls.append((action, line, station, category, source))
            return len(self.calls)

    def raise_call(self, line: str, station: str, category: str, source: str) -> int:
        """Record a raise."""
        return self._record("raise", line, station, category, source)

    def acknowledge(self, line: str, station: str, category: str, source: str) -> int:
        """Record an acknowledge."""
        return self._record("acknowledge", line, station, category, source)

    def resolve(self, line: str, station: str, category: str, source: str) -> int:
        """Record a resolve."""
        return self._record("resolve", line, station, category, source)

    def actions(self) -> list[str]:
        """Return just the action names so far."""
        with self.lock:
            return [c[0] for c in self.calls]


@pytest.fixture
def actions() -> RecordingActions:
    """A fresh recording of andon actions."""
    return RecordingActions()
