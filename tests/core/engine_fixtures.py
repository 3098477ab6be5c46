"""Builders for engine tests: shift patterns and instances from compact tables."""

from __future__ import annotations

from datetime import UTC, date, datetime

from andon.calendar import ShiftCalendar, ShiftInstance
from andon.config.schema import BreakConfig, ShiftConfig


def shift(start: str, end: str, *breaks: tuple[str, str], sid: str = "s", days: list[str] | None = None) -> ShiftConfig:
    """Return a shift pattern."""
    extra = {"days": days} if days is not None else {}
    return ShiftConfig(id=sid, start=start, end=end, breaks=[BreakConfig(start=a, end=b) for a, b in breaks], **extra)


def instance(pattern: ShiftConfig, day: date, tz: str = "UTC") -> ShiftInstance:
    """Return the instance of a pattern on a day (it must run that day)."""
    inst = ShiftCalendar([pattern], tz).instance(pattern.id, day)
    assert inst is not None
    return inst


def utc(text: str) -> float:
    """Return epoch seconds of a naive UTC 'YYYY-MM-DD HH:MM' text."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC).timestamp()
