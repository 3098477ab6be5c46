"""The shift calendar: shift patterns in local time turned into UTC spans, right across DST.

A shift belongs to the local date it starts on. Local times that do not exist (the hour skipped
when clocks go forward) are read with the offset in force before the change, and local times that
happen twice (clocks going back) mean their first occurrence; both follow ``zoneinfo``'s fold=0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cached_property, lru_cache
from zoneinfo import ZoneInfo

from andon.config.schema import WEEKDAYS, ShiftConfig

Span = tuple[float, float]


@dataclass(frozen=True)
class ShiftInstance:
    """One shift on one date, as UTC epoch seconds."""

    shift_id: str
    date: date
    start: float
    end: float
    breaks: tuple[Span, ...] = field(default=())
    name: str = ""

    @cached_property
    def key(self) -> tuple[str, str]:
        """Return (ISO date, shift id), the key overrides and reasons use (made once: every count asks)."""
        return (self.date.isoformat(), self.shift_id)

    def contains(self, t: float) -> bool:
        """Tell whether epoch second ``t`` lies in the shift."""
        return self.start <= t < self.end


def local_to_epoch(day: date, minutes: int, zone: ZoneInfo) -> float:
    """Return the epoch seconds of local ``day`` plus ``minutes`` (may pass midnight)."""
    day = day + timedelta(days=minutes // (24 * 60))
    minutes %= 24 * 60
    local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=zone)
    return local.timestamp()


class ShiftCalendar:
    """Find the shift instances of a set of shift patterns in one timezone."""

    def __init__(self, shifts: list[ShiftConfig], timezone: str) -> None:
        self.shifts = list(shifts)
        self.zone = ZoneInfo(timezone)
        self._instance = lru_cache(maxsize=4096)(self._build)
        self._last: ShiftInstance | None = None

    def _build(self, shift_id: str, day: date) -> ShiftInstance | None:
        shift = next((s for s in self.shifts if s.id == shift_id), None)
        if shift is None or WEEKDAYS[day.weekday()] not in shift.days:
            return None
        s0, s1 = shift.span_minutes()
        start = local_to_epoch(day, s0, self.zone)
        end = local_to_epoch(day, s1, self.zone)
        breaks = []
        for b0, b1 in shift.break_spans():
            lo = max(start, local_to_epoch(day, b0, self.zone))
            hi = min(end, local_to_epoch(day, b1, self.zone))
            if hi > lo:
                breaks.append((lo, hi))
        return ShiftInstance(shift.id, day, start, end, tuple(sorted(breaks)), shift.name or shift.id)

    def instance(self, shift_id: str, day: date) -> ShiftInstance | None:
        """Return the instance of a shift pattern starting on local ``day``, if it runs that day."""
        return self._instance(shift_id, day)

    def local_date(self, t: float) -> date:
        """Return the plant's local date at epoch second ``t``."""
        return datetime.fromtimestamp(t, self.zone).date()

    def at(self, t: float) -> ShiftInstance | None:
        """Return the shift instance running at ``t``, or None between shifts."""
        last = self._last
        if last is not None and last.start <= t < last.end:
            return last
        today = self.local_date(t)
        for day in (today, today - timedelta(days=1)):
            for shift in self.shifts:
                inst = self._instance(shift.id, day)
                if inst is not None and inst.start <= t < inst.end:
                    self._last = inst
                    return inst
        return None

    def latest_started(self, t: float, days_back: int = 8) -> ShiftInstance | None:
        """Return the most recent instance that started at or before ``t``."""
        today = self.local_date(t)
        best: ShiftInstance | None = None
        for back in range(days_back + 1):
            day = today - timedelta(days=back)
            for shift in self.shifts:
                inst = self._instance(shift.id, day)
                if inst is not None and inst.start <= t and (best is None or inst.start > best.start):
                    best = inst
            if best is not None and back >= 1:
                break
        return best

    def on_date(self, day: date) -> list[ShiftInstance]:
        """Return the instances starting on local ``day``, in start order."""
        found = [self._instance(s.id, day) for s in self.shifts]
        return sorted((i for i in found if i is not None), key=lambda i: i.start)
