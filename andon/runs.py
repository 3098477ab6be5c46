"""Runs and changeovers as arithmetic: what a line made when, and how a changeover splits into planned time
and overrun. Pure: no clock, no I/O; the line's timeline (andon/timeline.py) feeds it stored facts.

A product change closes a run and opens the next one with a changeover. The changeover lasts from the
change to the first good count after it (the first part of the new product), or to the next change. Its
first ``target`` seconds of available time (breaks and not-scheduled time do not use the target up) are
planned: they leave the plan. The rest is overrun: planned time lost to an unplanned stop with the reason
``changeover_overrun``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

Span = tuple[float, float]

OPEN_END = float("inf")


@dataclass(frozen=True)
class Run:
    """A period in which a line makes one product (``end`` None: still running)."""

    id: int
    product: str
    start: float
    end: float | None = None
    work_order: str | None = None
    changeover_seconds: float | None = None  # planned time of the changeover opening this run; None: none
    previous: str | None = None
    source: str = ""
    set_by: str = ""

    def covers(self, t: float) -> bool:
        """Tell whether ``t`` lies in the run."""
        return self.start <= t < (OPEN_END if self.end is None else self.end)

    @property
    def until(self) -> float:
        """Return the run's end, or infinity while it runs."""
        return OPEN_END if self.end is None else self.end


@dataclass(frozen=True)
class ChangeoverSplit:
    """A changeover cut into its planned pieces and the moment its target runs out (None: it ended first)."""

    planned: tuple[Span, ...]
    target_end: float | None


def split_changeover(start: float, target: float, finish: float | None, pieces: Iterable[Span]) -> ChangeoverSplit:
    """Take the first ``target`` available seconds after ``start`` (ending no later than ``finish``) as planned.

    ``pieces`` are the available spans from ``start`` on, in time order (they may stop early: the walk
    ends with them). ``finish`` None means the changeover has not ended.
    """
    limit = OPEN_END if finish is None else finish
    left = float(target)
    planned: list[Span] = []
    if left <= 0:
        return ChangeoverSplit((), start if start < limit else None)
    for a, b in pieces:
        a = max(a, start)
        if b <= a:
            continue
        if a >= limit:
            return ChangeoverSplit(tuple(planned), None)
        take_end = min(b, a + left, limit)
        planned.append((a, take_end))
        left -= take_end - a
        if left <= 0:
            return ChangeoverSplit(tuple(planned), take_end if take_end < limit else None)
        if take_end >= limit:
            return ChangeoverSplit(tuple(planned), None)
    return ChangeoverSplit(tuple(planned), None)


def overrun_pieces(target_end: float | None, finish: float, pieces: Iterable[Span]) -> list[Span]:
    """Return the available spans from the target's end to ``finish``: the changeover's overrun."""
    if target_end is None or finish <= target_end:
        return []
    out = []
    for a, b in pieces:
        a, b = max(a, target_end), min(b, finish)
        if b > a:
            out.append((a, b))
        if b >= finish:
            break
    return out


def subtract(span: Span, holes: Iterable[Span]) -> list[Span]:
    """Return ``span`` without the (sorted or not) ``holes``."""
    pieces = [span]
    for c, d in holes:
        pieces = [p for x, y in pieces for p in ((x, min(y, c)), (max(x, d), y)) if p[1] > p[0]]
    return sorted(pieces)


@dataclass(frozen=True)
class NotScheduled:
    """A period a line is not planned to run; ``until_first_count``: it ends at the line's first count or run."""

    id: int
    start: float
    end: float | None
    reason: str = ""
    until_first_count: bool = False
    set_by: str = ""

    def effective(self, first_data: float | None) -> Span | None:
        """Return the span it covers now (a waiting period ends at the first count or run), or None if empty."""
        end = OPEN_END if self.end is None else self.end
        if self.until_first_count and first_data is not None:
            end = min(end, first_data)
        return (self.start, end) if end > self.start else None


WORK_ORDER_STATES = ("planned", "started", "paused", "completed")


@dataclass(frozen=True)
class WorkOrder:
    """A quantity of one product to make on one line."""

    id: str
    line: str
    product: str
    quantity: int
    due: float | None = None
    state: str = "planned"
    created_at: float = 0.0
    created_by: str = ""
    started_at: float | None = None
    completed_at: float | None = None
