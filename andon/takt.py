"""The takt engine's arithmetic: available time, takt, cumulative plan, board rows, condition.

Everything here is pure: no clock, no I/O. ``plan(t) = floor(available(shift_start, t) / takt)``
is the single source of truth; an interval's plan is ``plan(end) - plan(start)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

from andon.calendar import ShiftInstance, Span


def merge_spans(spans: Iterable[Span], lo: float, hi: float) -> tuple[Span, ...]:
    """Clip spans to [lo, hi) and merge overlaps, so no second is subtracted twice."""
    clipped = sorted((max(a, lo), min(b, hi)) for a, b in spans if min(b, hi) > max(a, lo))
    merged: list[list[float]] = []
    for a, b in clipped:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return tuple((a, b) for a, b in merged)


@dataclass(frozen=True)
class Target:
    """How a shift's takt is set: a takt time or a demand (one of the two)."""

    takt_seconds: float | None = None
    demand_per_shift: int | None = None


class ShiftPlan:
    """The plan of one shift instance: excluded time, takt and the cumulative plan curve."""

    def __init__(
        self, instance: ShiftInstance, target: Target, downtime: Iterable[Span] = (),
        planned_stops: Iterable[Span] = (),
    ) -> None:
        self.instance = instance
        self._plan_cache: dict[float, int] = {}
        downtime, planned_stops = list(downtime), list(planned_stops)
        self._kinds: list[tuple[float, float, str]] = [
            *((a, b, "break") for a, b in instance.breaks),
            *((a, b, "planned_downtime") for a, b in downtime),
            *((a, b, "planned_stop") for a, b in planned_stops),
        ]
        self.excluded = merge_spans([*instance.breaks, *downtime, *planned_stops], instance.start, instance.end)
        self.net_available = self.available_until(instance.end)
        self.takt: Fraction | None
        if target.takt_seconds is not None:
            self.takt = Fraction(str(target.takt_seconds))
        elif target.demand_per_shift and self.net_available > 0:
            self.takt = Fraction(self.net_available) / target.demand_per_shift
        else:
            self.takt = None
        self.target = self.plan_at(instance.end)

    def available_until(self, t: float) -> float:
        """Return the available seconds from shift start to ``t`` (breaks and downtime removed)."""
        start, end = self.instance.start, self.instance.end
        t = min(max(t, start), end)
        total = t - start
        for a, b in self.excluded:
            if a >= t:
                break
            total -= min(b, t) - a
        return total

    def available_between(self, t0: float, t1: float) -> float:
        """Return the available seconds in [t0, t1)."""
        return self.available_until(t1) - self.available_until(t0)

    def plan_at(self, t: float) -> int:
        """Return the cumulative plan at ``t``: floor(available / takt)."""
        if self.takt is None:
            return 0
        cached = self._plan_cache.get(t)
        if cached is None:
            cached = math.floor(Fraction(self.available_until(t)) / self.takt)
            if len(self._plan_cache) < 4096:  # row boundaries repeat; "now" values mostly do not
                self._plan_cache[t] = cached
        return cached

    def excluded_spans(self) -> list[tuple[float, float, str]]:
        """Return the excluded spans of the shift, clipped to it, with their kind (break, planned_downtime, ...)."""
        start, end = self.instance.start, self.instance.end
        return [(max(a, start), min(b, end), kind) for a, b, kind in self._kinds if min(b, end) > max(a, start)]

    def in_excluded(self, t: float) -> bool:
        """Tell whether ``t`` falls in a break or planned downtime."""
        return any(a <= t < b for a, b in self.excluded)

    @property
    def takt_seconds(self) -> float | None:
        """Return takt as a float for display and JSON."""
        return float(self.takt) if self.takt is not None else None

    def interval_bounds(self, interval_seconds: int) -> list[Span]:
        """Return the rows' (start, end): aligned to shift start, the last one cut at shift end."""
        start, end = self.instance.start, self.instance.end
        bounds = []
        t = start
        while t < end:
            bounds.append((t, min(t + interval_seconds, end)))
            t += interval_seconds
        return bounds


@dataclass(frozen=True)
class Thresholds:
    """Parts behind for warning and abnormal, the silence that means a stopped line, the miss that asks a reason."""

    warning_behind: int = 1
    abnormal_behind: int = 3
    stop_after_seconds: float | None = None
    reason_behind: int = 1

    def stop_after(self, takt: Fraction | None) -> float | None:
        """Return the stop time: configured, else three takts (None without a takt)."""
        if self.stop_after_seconds is not None:
            return self.stop_after_seconds
        return float(3 * takt) if takt is not None else None


@dataclass
class BoardRow:
    """One hour-by-hour row as seen at a moment; actual and deltas are None for rows not started.

    ``planned`` and ``cum_planned`` are the plan of the whole row (up to its end); the ``*_so_far``
    figures stop at the moment the row is seen, and the deltas and the condition are measured
    against them. Only the current row tells the two apart: a finished row's plan so far is its
    plan, a row not started has none yet.
    """

    start: float
    end: float
    planned: int
    planned_so_far: int
    actual: int | None
    delta: int | None
    cum_planned: int
    cum_planned_so_far: int
    cum_actual: int | None
    cum_delta: int | None
    scrap: int | None
    condition: str
    current: bool = False
    reason_required: bool = False


def behind_condition(delta: int, thresholds: Thresholds) -> str:
    """Map a cumulative delta to normal, warning or abnormal."""
    if delta < -thresholds.abnormal_behind:
        return "abnormal"
    if delta < -thresholds.warning_behind:
        return "warning"
    return "normal"


def row_condition(delta: int, thresholds: Thresholds) -> str:
    """Map a row's delta: met is normal, any miss is warning, beyond abnormal_behind abnormal."""
    if delta >= 0:
        return "normal"
    return "abnormal" if delta < -thresholds.abnormal_behind else "warning"


def bucket_of(plan: ShiftPlan, interval_seconds: int, ts: float) -> int:
    """Return the row index an event time falls in (events must lie inside the shift)."""
    return int((ts - plan.instance.start) // interval_seconds)


def build_rows(
    plan: ShiftPlan,
    interval_seconds: int,
    tallies: Mapping[int, tuple[int, int]],
    now: float,
    thresholds: Thresholds,
) -> list[BoardRow]:
    """Build the board rows of a shift from per-row (good, scrap) tallies as seen at ``now``.

    Every started row's ``delta`` is ``actual - planned_so_far`` and its ``cum_delta`` is
    ``cum_actual - cum_planned_so_far``, so the current row's ``cum_delta`` is the live delta
    (actual to date minus ``plan(now)``). A finished row asks for a reason when it missed its
    plan by more than ``reason_behind`` parts.
    """
    rows: list[BoardRow] = []
    cum_actual = 0
    plan_now = plan.plan_at(now)
    for index, (r0, r1) in enumerate(plan.interval_bounds(interval_seconds)):
        p0, p1 = plan.plan_at(r0), plan.plan_at(r1)
        planned = p1 - p0
        if r0 > now:
            rows.append(BoardRow(r0, r1, planned, 0, None, None, p1, plan_now, None, None, None, "pending"))
            continue
        current = now < r1
        cum_so_far = plan_now if current else p1
        planned_so_far = cum_so_far - p0
        good, scrap = tallies.get(index, (0, 0))
        cum_actual += good
        delta = good - planned_so_far
        condition = "off" if plan.available_between(r0, r1) <= 0 else row_condition(delta, thresholds)
        rows.append(
            BoardRow(
                r0, r1, planned, planned_so_far, good, delta, p1, cum_so_far, cum_actual,
                cum_actual - cum_so_far, scrap, condition, current,
                reason_required=not current and condition != "off" and delta < -thresholds.reason_behind,
            )
        )
    return rows


@dataclass(frozen=True)
class SourceHealth:
    """What the engine knows of one count source: when it last spoke and whether it answers."""

    source_id: str
    online: bool
    last_seen: float | None
    stale_after: float | None
    detail: str = ""

    def is_stale(self, now: float) -> bool:
        """Tell whether this source is offline, or silent longer than its stale_after."""
        if not self.online:
            return True
        if self.stale_after is None:
            return False
        return self.last_seen is None or now - self.last_seen > self.stale_after


def line_condition(
    plan: ShiftPlan | None,
    now: float,
    cum_delta: int,
    last_count_at: float | None,
    thresholds: Thresholds,
    sources: Iterable[SourceHealth] = (),
) -> tuple[str, str]:
    """Return the line condition and a reason in words, at ``now``."""
    if plan is None or not plan.instance.contains(now):
        return "off", "no shift"
    if plan.in_excluded(now):
        return "off", "break"
    stale = [s for s in sources if s.is_stale(now)]
    if stale:
        return "stale", "; ".join(s.detail or f"no data from {s.source_id}" for s in stale)
    stop_after = thresholds.stop_after(plan.takt)
    if stop_after is not None:
        since = plan.instance.start if last_count_at is None else max(last_count_at, plan.instance.start)
        if plan.available_between(since, now) >= stop_after:
            return "abnormal", "line stopped"
    condition = behind_condition(cum_delta, thresholds)
    if condition == "normal":
        return "normal", "on plan" if cum_delta <= 0 else "ahead"
    return condition, f"{-cum_delta} behind"
