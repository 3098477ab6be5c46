"""The takt engine's arithmetic: available time, takt, cumulative plan, board rows, condition.

Everything here is pure: no clock, no I/O. ``plan(t) = floor(Σ over runs r of available(r ∩ [shift_start, t])
/ takt_r)`` is the single source of truth (one run, one takt, for a line without products); an interval's plan
is ``plan(end) - plan(start)``.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
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


# Kinds of excluded (planned) time. Where spans of two kinds overlap, the earlier kind in this order owns
# the overlap, so no second is counted twice and each has one kind (OEE tells them apart).
EXCLUDED_KINDS = ("break", "planned_downtime", "planned_stop", "not_scheduled", "changeover")
Excluded = tuple[float, float, str]


def lay_kinds(spans: Iterable[Excluded], lo: float, hi: float) -> tuple[Excluded, ...]:
    """Clip kinded spans to [lo, hi) and cut overlaps, the stronger kind keeping the time; adjacent equals join."""
    rank = {kind: i for i, kind in enumerate(EXCLUDED_KINDS)}
    owned: list[Excluded] = []
    for kind in sorted({k for _, _, k in spans}, key=lambda k: rank.get(k, len(rank))):
        for a, b in merge_spans([(a, b) for a, b, k in spans if k == kind], lo, hi):
            pieces = [(a, b)]
            for c, d, _ in owned:
                pieces = [p for x, y in pieces for p in ((x, min(y, c)), (max(x, d), y)) if p[1] > p[0]]
            owned.extend((x, y, kind) for x, y in pieces)
    owned.sort()
    joined: list[Excluded] = []
    for a, b, kind in owned:
        if joined and joined[-1][2] == kind and joined[-1][1] == a:
            joined[-1] = (joined[-1][0], b, kind)
        else:
            joined.append((a, b, kind))
    return tuple(joined)


@dataclass(frozen=True)
class RunPlan:
    """One run's part of a shift: from ``start`` the line makes ``product`` at ``target``'s takt."""

    start: float
    target: Target
    product: str | None = None


class ShiftPlan:
    """The plan of one shift instance: excluded time by kind, the runs' takts and the cumulative plan curve.

    ``plan(t) = floor(sum over runs r of available(r ∩ [shift_start, t]) / takt_r)``, exact in Fractions.
    Without runs the whole shift runs at ``target``. The first run covers the shift from its start.
    """

    def __init__(
        self, instance: ShiftInstance, target: Target, downtime: Iterable[Span] = (), *,
        spans: Iterable[Excluded] = (), runs: Sequence[RunPlan] = (),
    ) -> None:
        self.instance = instance
        self._plan_cache: dict[float, int] = {}
        self._bounds: dict[int, tuple[Span, ...]] = {}
        start, end = instance.start, instance.end
        downtime, spans = list(downtime), list(spans)
        if downtime or spans:
            self._kinded = lay_kinds(
                [*((a, b, "break") for a, b in instance.breaks), *((a, b, "planned_downtime") for a, b in downtime),
                 *spans], start, end,
            )
            self.excluded = merge_spans([(a, b) for a, b, _ in self._kinded], start, end)
        else:  # breaks alone, the usual case: no kinds to lay over each other
            self.excluded = merge_spans(instance.breaks, start, end)
            self._kinded = tuple((a, b, "break") for a, b in self.excluded)
        self._ex_starts = [a for a, _ in self.excluded]
        self._ex_before: list[float] = []  # excluded seconds before each excluded span
        total = 0.0
        for a, b in self.excluded:
            self._ex_before.append(total)
            total += b - a
        self.net_available = self.available_until(end)
        chosen = list(runs) or [RunPlan(start, target)]
        self._seg_starts = [start] + [max(r.start, start) for r in chosen[1:]]
        self._seg_products = [r.product for r in chosen]
        self._seg_takts = [self._takt_of(r.target) for r in chosen]
        # Each later segment's available time at its start and the (unfloored) plan up to it.
        self._seg_avail: list[float] = [0.0]
        self._seg_plan: list[Fraction] = [Fraction(0)]
        acc = Fraction(0)
        for i in range(1, len(chosen)):
            before = self._seg_avail[-1]
            here = self.available_until(self._seg_starts[i])
            takt = self._seg_takts[i - 1]
            if takt is not None and here > before:
                acc += Fraction(here - before) / takt
            self._seg_avail.append(here)
            self._seg_plan.append(acc)
        self.takt: Fraction | None = self._seg_takts[0]
        self.target = self.plan_at(end)

    def _takt_of(self, target: Target) -> Fraction | None:
        if target.takt_seconds is not None:
            return Fraction(str(target.takt_seconds))
        if target.demand_per_shift and self.net_available > 0:
            return Fraction(self.net_available) / target.demand_per_shift
        return None

    def available_until(self, t: float) -> float:
        """Return the available seconds from shift start to ``t`` (excluded time removed)."""
        start, end = self.instance.start, self.instance.end
        t = min(max(t, start), end)
        i = bisect_right(self._ex_starts, t) - 1
        if i < 0:
            return t - start
        a, b = self.excluded[i]
        return t - start - self._ex_before[i] - (min(b, t) - a)

    def available_between(self, t0: float, t1: float) -> float:
        """Return the available seconds in [t0, t1)."""
        start, end = self.instance.start, self.instance.end
        t0, t1 = min(max(t0, start), end), min(max(t1, start), end)
        i = bisect_right(self._ex_starts, t0) - 1
        if i == bisect_right(self._ex_starts, t1) - 1 and (i < 0 or t0 >= self.excluded[i][1]):
            return t1 - t0  # both in the same stretch between excluded spans: most stops, in loss reports
        return self.available_until(t1) - self.available_until(t0)

    def available_from(self, t: float) -> float:
        """Return the first moment at or after ``t`` that is available time: ``t``, or the end of the excluded
        span (break, not scheduled, planned downtime, a changeover within its target) that ``t`` falls in."""
        i = bisect_right(self._ex_starts, t) - 1
        return self.excluded[i][1] if i >= 0 and t < self.excluded[i][1] else t

    def _segment(self, t: float) -> int:
        return max(0, bisect_right(self._seg_starts, t) - 1)

    def plan_at(self, t: float) -> int:
        """Return the cumulative plan at ``t``: floor of the runs' available time over their takts."""
        cached = self._plan_cache.get(t)
        if cached is None:
            i = self._segment(t) if len(self._seg_starts) > 1 else 0
            takt = self._seg_takts[i]
            if i == 0:  # the first run: exactly floor(available / takt), as for a line of one takt
                if takt is None:
                    cached = 0
                else:  # in integers: available = n / d exactly, takt = p / q, plan = floor(n q / (d p))
                    n, d = self.available_until(t).as_integer_ratio()
                    cached = (n * takt.denominator) // (d * takt.numerator)
            else:
                value = self._seg_plan[i]
                if takt is not None:
                    value += Fraction(self.available_until(t) - self._seg_avail[i]) / takt
                cached = math.floor(value)
            if len(self._plan_cache) < 4096:  # row boundaries repeat; "now" values mostly do not
                self._plan_cache[t] = cached
        return cached

    def kind_at(self, t: float) -> str | None:
        """Return the kind of excluded time ``t`` falls in (break, changeover...), or None in available time."""
        i = bisect_right(self._ex_starts, t) - 1
        if i < 0 or t >= self.excluded[i][1]:
            return None
        for a, b, kind in self._kinded:
            if a <= t < b:
                return kind
        return None

    def in_excluded(self, t: float) -> bool:
        """Tell whether ``t`` falls in excluded time (a break, planned downtime, a changeover...)."""
        return self.kind_at(t) is not None

    def excluded_spans(self) -> list[Excluded]:
        """Return the excluded spans as (start, end, kind), sorted, not overlapping."""
        return list(self._kinded)

    def takt_at(self, t: float) -> Fraction | None:
        """Return the takt of the run going on at ``t``."""
        return self._seg_takts[self._segment(t)]

    def product_at(self, t: float) -> str | None:
        """Return the product being made at ``t`` (None for a line without products)."""
        return self._seg_products[self._segment(t)]

    def products_between(self, t0: float, t1: float) -> list[str]:
        """Return the products of the runs overlapping [t0, t1), in order."""
        if len(self._seg_starts) == 1:
            first = self._seg_products[0]
            return [first] if first is not None and t1 > t0 else []
        out: list[str] = []
        ends = [*self._seg_starts[1:], self.instance.end]
        for s0, s1, product in zip(self._seg_starts, ends, self._seg_products, strict=True):
            if product is not None and s0 < t1 and s1 > t0 and s1 > s0 and product not in out:
                out.append(product)
        return out

    @property
    def takt_seconds(self) -> float | None:
        """Return the first run's takt as a float for display and JSON."""
        return float(self.takt) if self.takt is not None else None

    def takt_seconds_at(self, t: float) -> float | None:
        """Return the takt at ``t`` as a float for display and JSON."""
        takt = self.takt_at(t)
        return float(takt) if takt is not None else None

    def interval_bounds(self, interval_seconds: int) -> Sequence[Span]:
        """Return the rows' (start, end): aligned to shift start, the last one cut at shift end."""
        bounds = self._bounds.get(interval_seconds)
        if bounds is None:
            start, end = self.instance.start, self.instance.end
            found = []
            t = start
            while t < end:
                found.append((t, min(t + interval_seconds, end)))
                t += interval_seconds
            bounds = self._bounds[interval_seconds] = tuple(found)
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
        if takt is None:
            return None
        # Asked on every count, with the takt object of the line's plan: found by identity (a Fraction's hash is
        # slow), the object kept with its value so its id cannot be another's.
        kept = _three_takts_by_id.get(id(takt))
        if kept is not None and kept[0] is takt:
            return kept[1]
        return _three_takts(takt)


_three_takts_by_id: dict[int, tuple[Fraction, float]] = {}


def _three_takts(takt: Fraction) -> float:
    value = float(3 * takt)
    if len(_three_takts_by_id) >= 1024:  # plans come and go with shifts: start again now and then
        _three_takts_by_id.clear()
    _three_takts_by_id[id(takt)] = (takt, value)
    return value


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
    products: tuple[str, ...] = ()


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
        if r0 > now:
            p1 = plan.plan_at(r1)
            rows.append(BoardRow(r0, r1, p1 - plan.plan_at(r0), 0, None, None, p1, plan_now, None, None, None,
                                 "pending", products=tuple(plan.products_between(r0, r1))))
            continue
        tally = tallies.get(index, (0, 0))
        cum_actual += tally[0]
        rows.append(_started_row(plan, r0, r1, tally, cum_actual, plan_now, now, thresholds))
    return rows


def current_row(
    plan: ShiftPlan,
    interval_seconds: int,
    tallies: Mapping[int, Sequence[int]],
    now: float,
    thresholds: Thresholds,
) -> tuple[BoardRow, int]:
    """Return the row ``now`` falls in, as ``build_rows`` makes it, and the scrap of the rows started so far.

    What the live state needs, without the rest of the shift's rows (one state per count on a busy line).
    ``now`` must lie inside the shift.
    """
    bounds = plan.interval_bounds(interval_seconds)
    index = max(0, bisect_right(bounds, (now, math.inf)) - 1)
    r0, r1 = bounds[index]
    cum_actual = scrap = 0
    for i, tally in tallies.items():
        if i <= index:  # a tally of a row not started (an event time ahead of the clock) is not shown
            cum_actual += tally[0]
            scrap += tally[1]
    row = _started_row(plan, r0, r1, tallies.get(index, (0, 0)), cum_actual, plan.plan_at(now), now, thresholds)
    return row, scrap


def _started_row(
    plan: ShiftPlan, r0: float, r1: float, tally: Sequence[int], cum_actual: int, plan_now: int, now: float,
    thresholds: Thresholds,
) -> BoardRow:
    """Return a row that has started (``r0 <= now``): finished, or current when ``now < r1``."""
    p0, p1 = plan.plan_at(r0), plan.plan_at(r1)
    current = now < r1
    cum_so_far = plan_now if current else p1
    planned_so_far = cum_so_far - p0
    good, scrap = tally[0], tally[1]
    delta = good - planned_so_far
    condition = "off" if plan.available_between(r0, r1) <= 0 else row_condition(delta, thresholds)
    return BoardRow(
        r0, r1, p1 - p0, planned_so_far, good, delta, p1, cum_so_far, cum_actual, cum_actual - cum_so_far, scrap,
        condition, current, reason_required=not current and condition != "off" and delta < -thresholds.reason_behind,
        products=tuple(plan.products_between(r0, min(r1, now) if current else r1)),
    )


@dataclass(frozen=True)
class SourceHealth:
    """What the engine knows of one count source: when it last spoke and whether it answers."""

    source_id: str
    online: bool
    last_seen: float | None
    stale_after: float | None
    detail: str = ""
    connecting: bool = False  # its driver has neither read a value nor confirmed its connection yet

    def is_stale(self, now: float) -> bool:
        """Tell whether this source is connecting, offline, or silent longer than its stale_after."""
        if self.connecting or not self.online:
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
    kind = plan.kind_at(now)
    if kind in OFF_WORDS:
        return "off", OFF_WORDS[kind]
    stale = [s for s in sources if s.is_stale(now)]
    if stale:
        return "stale", stale_reason(stale)
    stop_after = thresholds.stop_after(plan.takt_at(now))
    if stop_after is not None:
        since = plan.instance.start if last_count_at is None else max(last_count_at, plan.instance.start)
        if plan.available_between(since, now) >= stop_after:
            return "abnormal", "line stopped"
    condition = behind_condition(cum_delta, thresholds)
    words = ("on plan" if cum_delta <= 0 else "ahead") if condition == "normal" else f"{-cum_delta} behind"
    # A changeover within its target is planned: the line is judged on its delta, and says why it is not counting.
    return condition, f"changeover; {words}" if kind == "changeover" else words


def stale_reason(stale: Iterable[SourceHealth]) -> str:
    """Say why sources are stale, each reason once (sources on one broker or PLC share its outage's words)."""
    words = (
        s.detail or (f"connecting to {s.source_id}" if s.connecting else f"no data from {s.source_id}") for s in stale
    )
    return "; ".join(dict.fromkeys(words))


# What the board says when the line is off because of planned time of each kind (a changeover is not off).
OFF_WORDS = {"break": "break", "planned_downtime": "planned downtime", "planned_stop": "planned stop",
             "not_scheduled": "not scheduled"}
