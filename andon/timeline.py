"""What a line made and when, in memory: its runs and their changeovers, its not-scheduled periods and its open
work orders, loaded from storage at start and kept up to date by the services that store changes.

The line's lock (``LineRuntime.lock``) guards every change; readers take it too.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator
from datetime import timedelta

from andon.calendar import ShiftCalendar, ShiftInstance
from andon.config.products import ChangeoverConfig, ProductFigures
from andon.runs import (
    ChangeoverSplit,
    NotScheduled,
    Run,
    Span,
    WorkOrder,
    overrun_pieces,
    split_changeover,
    subtract,
)
from andon.storage import production
from andon.storage.store import Store
from andon.takt import RunPlan, Target

LOOKAHEAD_DAYS = 5  # a changeover's target or an order's finish is looked for this far ahead
LOOKBACK_SECONDS = 3 * 86400  # a changeover that started this long before a span can still reach into it
_UNKNOWN = -1.0


class Timeline:
    """One line's runs, changeovers, not-scheduled periods and open work orders."""

    def __init__(
        self, line_id: str, figures: dict[str, ProductFigures], changeover: ChangeoverConfig | None,
        fallback: Target, store: Store, calendar: ShiftCalendar, downtime_of: Callable[[ShiftInstance], list[Span]],
    ) -> None:
        self.line_id = line_id
        self.figures = figures
        self.changeover = changeover
        self.fallback = fallback
        self.store = store
        self.calendar = calendar
        self.downtime_of = downtime_of
        self.runs: list[Run] = production.load_runs(store, line_id)
        self._starts = [r.start for r in self.runs]
        self.periods: list[NotScheduled] = production.load_not_scheduled(store, line_id)
        self.first_data = production.first_data_at(store, line_id)
        self._first_counts: dict[int, float | None] = {}
        self._splits: dict[int, ChangeoverSplit] = {}
        self.orders: dict[str, WorkOrder] = {}
        self.made: dict[str, int] = {}
        for order in production.list_orders(store, line_id):
            if order.state != "completed":
                self.track_order(order)
        current = self.current()
        if current is not None and current.work_order and current.work_order not in self.orders:
            stored = production.get_order(store, current.work_order)
            if stored is not None:
                self.track_order(stored)

    # --- products and runs ---------------------------------------------------------------
    @property
    def has_products(self) -> bool:
        """Tell whether the line runs products (else its own takt is its plan)."""
        return bool(self.figures)

    @property
    def default_product(self) -> str | None:
        """Return the product the line makes before any is set: its first listed."""
        return next(iter(self.figures), None)

    def current(self) -> Run | None:
        """Return the run going on now (the last one), or None before the first."""
        return self.runs[-1] if self.runs else None

    def run_at(self, t: float) -> Run | None:
        """Return the run going on at ``t``."""
        i = bisect_right(self._starts, t) - 1
        return self.runs[i] if i >= 0 and self.runs[i].covers(t) else None

    def product_at(self, t: float) -> str | None:
        """Return the product being made at ``t`` (the first listed before any run; None without products)."""
        run = self.run_at(t)
        if run is not None:
            return run.product
        return self.default_product if not self.runs or t < self.runs[0].start else None

    def figures_at(self, t: float) -> ProductFigures | None:
        """Return the figures of the product made at ``t``."""
        product = self.product_at(t)
        return self.figures.get(product) if product is not None else None

    def target_of(self, product: str | None) -> Target:
        """Return a product's takt or demand on this line (the line's own for an unknown product)."""
        figures = self.figures.get(product) if product is not None else None
        if figures is None:
            return self.fallback
        return Target(figures.takt_seconds, figures.demand_per_shift)

    def changeover_minutes(self, source: str | None, target: str) -> float | None:
        """Return the planned minutes of a change between two products (None: no changeover)."""
        if self.changeover is None or source is None or source == target:
            return None
        return self.changeover.minutes(source, target)

    def run_plans(self, instance: ShiftInstance, override: Target | None) -> list[RunPlan]:
        """Return the runs of a shift as the plan takes them: the one going on at its start, then each change."""
        first = self.run_at(instance.start)
        product = first.product if first is not None else self.product_at(instance.start)
        plans = [RunPlan(instance.start, override or self.target_of(product), product)]
        i = bisect_right(self._starts, instance.start)
        while i < len(self.runs) and self.runs[i].start < instance.end:
            run = self.runs[i]
            plans.append(RunPlan(run.start, override or self.target_of(run.product), run.product))
            i += 1
        return plans

    def runs_between(self, t0: float, t1: float) -> list[Run]:
        """Return the runs overlapping [t0, t1)."""
        return [r for r in self.runs if r.start < t1 and r.until > t0]

    def add_run(self, run: Run) -> None:
        """Record a stored product change: the current run ends where ``run`` starts."""
        if self.runs and self.runs[-1].end is None:
            last = self.runs[-1]
            self.runs[-1] = Run(last.id, last.product, last.start, run.start, last.work_order, last.changeover_seconds,
                                last.previous, last.source, last.set_by)
            self._splits.pop(last.id, None)
        self.runs.append(run)
        self._starts.append(run.start)
        # A change placed in the past may already have parts after it: its changeover's end is read from storage.
        self._first_counts[run.id] = production.first_good_count(self.store, self.line_id, run.start, None)
        if self.first_data is None or run.start < self.first_data:
            self.first_data = run.start

    # --- changeovers -------------------------------------------------------------------------
    def _first_count(self, run: Run) -> float | None:
        cached = self._first_counts.get(run.id, _UNKNOWN)
        if cached == _UNKNOWN:
            cached = production.first_good_count(self.store, self.line_id, run.start, run.end)
            self._first_counts[run.id] = cached
        return cached

    def changeover_end(self, run: Run) -> float | None:
        """Return when a run's changeover ended: its first good part, else the run's end (None: still going)."""
        first = self._first_count(run)
        if first is not None:
            return first
        return run.end

    def split_of(self, run: Run) -> ChangeoverSplit | None:
        """Return a run's changeover cut into planned time and the end of its target (None: no changeover)."""
        if run.changeover_seconds is None:
            return None
        split = self._splits.get(run.id)
        if split is None:
            split = split_changeover(run.start, run.changeover_seconds, self.changeover_end(run),
                                     self.available_pieces(run.start))
            self._splits[run.id] = split
        return split

    def planned_changeovers(self, t0: float, t1: float) -> list[Span]:
        """Return the planned changeover time inside [t0, t1)."""
        out: list[Span] = []
        for run in self.runs_between(t0 - LOOKBACK_SECONDS, t1):
            split = self.split_of(run)
            if split is not None:
                out.extend((max(a, t0), min(b, t1)) for a, b in split.planned if a < t1 and b > t0)
        return out

    def overruns(self, t0: float, t1: float, now: float) -> list[Span]:
        """Return the changeover overruns (available time beyond the target) inside [t0, t1), as seen at ``now``."""
        out: list[Span] = []
        for run in self.runs_between(t0 - LOOKBACK_SECONDS, t1):
            split = self.split_of(run)
            if split is None or split.target_end is None or split.target_end >= t1:
                continue
            finish = self.changeover_end(run)
            pieces = overrun_pieces(split.target_end, min(now if finish is None else finish, t1),
                                    self.available_pieces(split.target_end))
            out.extend((max(a, t0), b) for a, b in pieces if b > t0)
        return out

    def open_changeover(self, now: float) -> tuple[Run, ChangeoverSplit] | None:
        """Return the current run and its changeover while that changeover has not ended at ``now``."""
        run = self.current()
        if run is None or not run.covers(now):
            return None
        split = self.split_of(run)
        if split is None:
            return None
        end = self.changeover_end(run)
        return (run, split) if end is None or end > now else None

    # --- counts -------------------------------------------------------------------------------
    def note_count(self, ts: float, count: int, kind: str) -> bool:
        """Take a counted event: the first data, a changeover's end, an order's made. Return True if plans change."""
        changed = False
        if count > 0 and (self.first_data is None or ts < self.first_data):
            changed = any(p.until_first_count for p in self.periods)
            self.first_data = ts
        if kind != "good" or not self.runs:
            return changed
        run = self.run_at(ts)
        if run is None:
            return changed
        if run.work_order is not None and run.work_order in self.made:
            self.made[run.work_order] += count
        if count > 0 and run.changeover_seconds is not None:
            first = self._first_count(run)
            if first is None or ts < first:
                self._first_counts[run.id] = ts
                self._splits.pop(run.id, None)
                changed = True
        return changed

    # --- not scheduled --------------------------------------------------------------------------
    def not_scheduled(self, t0: float, t1: float) -> list[Span]:
        """Return the not-scheduled time inside [t0, t1)."""
        out = []
        for period in self.periods:
            span = period.effective(self.first_data)
            if span is not None and span[0] < t1 and span[1] > t0:
                out.append((max(span[0], t0), min(span[1], t1)))
        return out

    def waiting_at(self, t: float) -> bool:
        """Tell whether ``t`` falls in a wait for the line's first count (and in no explicit not-scheduled period)."""
        covering = [p for p in self.periods if (span := p.effective(self.first_data)) and span[0] <= t < span[1]]
        return bool(covering) and all(p.until_first_count for p in covering)

    def set_periods(self, periods: list[NotScheduled]) -> None:
        """Record the stored not-scheduled periods."""
        self.periods = sorted(periods, key=lambda p: p.start)
        self._splits.clear()

    def forget(self) -> None:
        """Drop what was worked out from planned time (after planned downtime changed)."""
        self._splits.clear()

    # --- available time ahead ---------------------------------------------------------------------
    def instances_from(self, t: float) -> Iterator[ShiftInstance]:
        """Yield the shift instances that end after ``t``, in time order, for LOOKAHEAD_DAYS."""
        day = self.calendar.local_date(t) - timedelta(days=1)
        for offset in range(LOOKAHEAD_DAYS + 2):
            for instance in self.calendar.on_date(day + timedelta(days=offset)):
                if instance.end > t:
                    yield instance

    def available_pieces(self, t: float) -> Iterator[Span]:
        """Yield the available time from ``t`` on (in shifts, outside breaks, downtime and not-scheduled time)."""
        for instance in self.instances_from(t):
            holes = [*instance.breaks, *self.downtime_of(instance), *self.not_scheduled(instance.start, instance.end)]
            yield from subtract((max(instance.start, t), instance.end), holes)

    # --- work orders ------------------------------------------------------------------------------
    def track_order(self, order: WorkOrder, made: int | None = None) -> None:
        """Keep a work order in memory, with its parts made so far (counted from storage unless given)."""
        self.orders[order.id] = order
        if order.id not in self.made:
            if made is None:
                spans = [(r.start, r.end) for r in self.runs if r.work_order == order.id]
                made = production.made_between(self.store, self.line_id, spans)
            self.made[order.id] = made

    def order_runs(self, order_id: str) -> list[Run]:
        """Return the runs made for a work order."""
        return [r for r in self.runs if r.work_order == order_id]

