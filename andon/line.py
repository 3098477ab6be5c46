"""One line at run time: its counters, tallies per shift, source health, state and board."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date
from typing import Any

from andon.calendar import ShiftCalendar, ShiftInstance, Span
from andon.clock import Clock
from andon.config.losses import StopReason
from andon.config.products import ProductConfig, figures_of
from andon.config.schema import LineConfig
from andon.counting import CounterState, Normaliser
from andon.errors import ServiceError
from andon.losses import CountStops, OpenSpan, merge_stops, signal_stops
from andon.production_view import production_views
from andon.state import LineState, ShiftView, SourceStatusWord, SourceView, state_document
from andon.storage import stops as stop_rows
from andon.storage.store import Store
from andon.takt import (
    BoardRow,
    Excluded,
    ShiftPlan,
    SourceHealth,
    Target,
    Thresholds,
    bucket_of,
    build_rows,
    current_row,
    line_condition,
    stale_reason,
)
from andon.timeline import Timeline
from andon.times import iso
from devices.sources.http import HttpSourceConfig

log = logging.getLogger(__name__)

HTTP_SOURCE = "http"
KEEP_STOP_SHIFTS = 8  # shifts whose good-count times stay in memory for stop detection
SIGNAL_MEMORY = 8 * 86400  # run-signal changes kept in memory


@dataclass
class SourceStatus:
    """Mutable health of one source, as reported by its driver."""

    source_id: str
    stale_after: float | None
    online: bool = True
    last_seen: float | None = None
    detail: str = ""
    description: str = ""
    connecting: bool = False  # until its driver reads a value or confirms its connection
    watched_since: float | None = None  # stale_after counts from here until the source is first seen

    def snapshot(self) -> SourceHealth:
        """Return an immutable copy for the engine."""
        seen = self.last_seen if self.last_seen is not None else self.watched_since
        return SourceHealth(self.source_id, self.online, seen, self.stale_after, self.detail, self.connecting)

    @property
    def status(self) -> SourceStatusWord:
        """Say connecting, online or offline."""
        return "connecting" if self.connecting else "online" if self.online else "offline"


def view_of(status: SourceStatus, now: float) -> SourceView:
    """Return how a source looks on a line's state (and in the answer to an edge's report)."""
    return SourceView(**source_document(status, now, status.snapshot()))


def source_document(status: SourceStatus, now: float, health: SourceHealth) -> dict[str, Any]:
    """Return a source as a state document shows it (``SourceView``'s fields in order); ``health``: its snapshot."""
    return {"id": status.source_id, "online": health.online and not health.connecting, "stale": health.is_stale(now),
            "last_seen": iso(status.last_seen), "detail": health.detail, "status": status.status}


# Excluded time in which the line is not planned to run at all: a stop's gap starting there starts at its end.
UNPLANNED_KINDS = frozenset({"not_scheduled", "planned_downtime", "planned_stop"})


class LineRuntime:
    """The live engine of one line; every public method is safe to call from any thread."""

    def __init__(
        self, config: LineConfig, calendar: ShiftCalendar, store: Store, clock: Clock,
        counter_states: dict[str, tuple[int | None, int | None]] | None = None,
        overrides: dict[tuple[str, str], Target] | None = None,
        keep_shifts: int = 64, reasons: dict[str, StopReason] | None = None,
        products: list[ProductConfig] | None = None,
    ) -> None:
        self.config = config
        self.id = config.id
        self.calendar = calendar
        self.store = store
        self.clock = clock
        self.lock = threading.RLock()
        self.interval_seconds = config.interval_minutes * 60
        self.thresholds = Thresholds(
            config.thresholds.warning_behind, config.thresholds.abnormal_behind,
            config.thresholds.stop_after_seconds, config.thresholds.reason_behind,
        )
        self.overrides: dict[tuple[str, str], Target] = dict(overrides or {})
        self._plans: dict[tuple[str, str], ShiftPlan] = {}
        self._downtime: dict[tuple[str, str], list[Span]] = {}
        self._tallies: OrderedDict[tuple[str, str], dict[int, list[int]]] = OrderedDict()
        self._shift_views: dict[tuple[str, str], tuple[ShiftInstance, dict[str, str]]] = {}
        self._keep_shifts = keep_shifts
        self.last_count_at: float | None = None
        self.normalisers: dict[str, Normaliser] = {}
        self.sources: dict[str, SourceStatus] = {}
        states = counter_states or {}
        for source_id, source in zip(config.source_ids(), config.sources, strict=True):
            value, pending = states.get(source_id, (None, None))
            state = CounterState(value, pending, restored=value is not None)
            self.normalisers[source_id] = Normaliser(source, state)
            # A source with a driver is connecting until it reports; one with nothing to run (a passive
            # HTTP source) has nothing to connect to.
            self.sources[source_id] = SourceStatus(
                source_id, source.stale_after_seconds, watched_since=clock.now(),
                connecting=source.type != HTTP_SOURCE,
            )
        if HTTP_SOURCE not in self.normalisers or self.normalisers[HTTP_SOURCE].config.mode != "increment":
            # Counts POSTed over HTTP (and forwarded by edges) are plain increments.
            self.normalisers[HTTP_SOURCE] = Normaliser(HttpSourceConfig(type="http"))
        # --- losses ---
        self.reasons: dict[str, StopReason] = dict(reasons or {})
        self.roles = {sid: src.role for sid, src in zip(config.source_ids(), config.sources, strict=True)
                      if src.role != "count"}
        self.fault_codes = {sid: dict(src.fault_codes or {})
                            for sid, src in zip(config.source_ids(), config.sources, strict=True)
                            if src.role == "fault_code"}
        self.scrap_reasons = {sid: src.scrap_reason
                              for sid, src in zip(config.source_ids(), config.sources, strict=True)
                              if src.scrap_reason is not None}
        self._trackers: OrderedDict[tuple[str, str], tuple[ShiftPlan, CountStops]] = OrderedDict()
        self.stop_version = 0  # grows whenever a count or a signal changes the stops
        self.changed_shifts: set[tuple[str, str]] = set()
        self.signal_log: list[tuple[float, str, bool]] = []
        self.running: dict[str, bool] = {}
        if any(role == "run_signal" for role in self.roles.values()):
            self.signal_log = [(round(t, 3), sid, v) for t, sid, v in
                               stop_rows.signal_changes(store, self.id, clock.now() - SIGNAL_MEMORY)]
            for _ts, sid, value in self.signal_log:
                self.running[sid] = value
        self.product_sources = {
            sid for sid, src in zip(config.source_ids(), config.sources, strict=True)
            if getattr(src, "role", "count") == "product"
        }
        self.timeline = Timeline(
            self.id, figures_of(products or [], config), config.changeover,
            Target(config.takt_seconds, config.demand_per_shift), store, calendar, self.downtime_of,
        )

    # --- plan -------------------------------------------------------------------------
    def target_for(self, instance: ShiftInstance) -> Target:
        """Return the shift's takt or demand: the override if set, else the line's."""
        override = self.overrides.get(instance.key)
        if override is not None:
            return override
        return Target(self.config.takt_seconds, self.config.demand_per_shift)

    def downtime_of(self, instance: ShiftInstance) -> list[Span]:
        """Return the planned downtime entered for a shift instance (cached)."""
        with self.lock:
            downtime = self._downtime.get(instance.key)
            if downtime is None:
                downtime = self.store.downtime(self.id, instance.start, instance.end)
                self._downtime[instance.key] = downtime
            return downtime

    def plan_for(self, instance: ShiftInstance) -> ShiftPlan:
        """Return the (cached) plan of a shift instance: its runs, changeovers and not-scheduled time."""
        with self.lock:
            plan = self._plans.get(instance.key)
            if plan is None:
                timeline = self.timeline
                t0, t1 = instance.start, instance.end
                spans: list[Excluded] = [(a, b, "not_scheduled") for a, b in timeline.not_scheduled(t0, t1)]
                spans += [(a, b, "changeover") for a, b in timeline.planned_changeovers(t0, t1)]
                spans += [(a, b, "planned_stop") for a, b in stop_rows.planned_spans(self.store, self.id, t0, t1)]
                override = self.overrides.get(instance.key)
                runs = timeline.run_plans(instance, override) if timeline.has_products else []
                plan = ShiftPlan(instance, self.target_for(instance), self.downtime_of(instance), spans=spans,
                                 runs=runs)
                self._plans[instance.key] = plan
            return plan

    def forget_plans(self) -> None:
        """Drop every cached plan (after a product change or a schedule change)."""
        with self.lock:
            self._plans.clear()

    def set_override(self, key: tuple[str, str], target: Target) -> None:
        """Apply a takt or demand override to one shift (the caller stores it)."""
        with self.lock:
            self.overrides[key] = target
            self._plans.pop(key, None)
            self._stops_moved(key)

    def takt_at(self, t: float) -> float | None:
        """Return the takt in seconds of the shift running at ``t`` (None off shift)."""
        instance = self.calendar.at(t)
        return self.plan_for(instance).takt_seconds_at(t) if instance is not None else None

    def ideal_cycle_at(self, t: float) -> float | None:
        """Return the ideal cycle in seconds at ``t``: the running product's (this line's override first)."""
        with self.lock:
            figures = self.timeline.figures_at(t)
        if figures is not None and figures.ideal_cycle_seconds is not None:
            return figures.ideal_cycle_seconds
        line_ideal = getattr(self.config, "ideal_cycle_seconds", None)
        return float(line_ideal) if line_ideal is not None else None

    def parts_per_cycle_at(self, t: float) -> int | None:
        """Return the running product's parts per cycle at ``t`` (None: the source's own)."""
        if not self.timeline.has_products:
            return None
        with self.lock:
            figures = self.timeline.figures_at(t)
        return figures.parts_per_cycle if figures is not None else None

    def changeover_overruns(self, instance: ShiftInstance) -> list[tuple[float, float]]:
        """Return the changeover overruns in a shift (available time beyond each target), as seen now."""
        with self.lock:
            return self.timeline.overruns(instance.start, instance.end, self.clock.now())

    def forget_plan(self, key: tuple[str, str]) -> None:
        """Drop a cached plan after its planned downtime or planned stops changed."""
        with self.lock:
            self._plans.clear()  # a changeover's target can reach across shifts
            self._downtime.pop(key, None)
            self.timeline.forget()
            self._stops_moved(key)

    def _stops_moved(self, key: tuple[str, str]) -> None:
        self.stop_version += 1
        self.changed_shifts.add(key)

    # --- counts -----------------------------------------------------------------------
    def _tally(self, instance: ShiftInstance) -> dict[int, list[int]]:
        key = instance.key
        tally = self._tallies.get(key)
        if tally is None:
            counts = self.store.tallies(self.id, instance.start, instance.end, self.interval_seconds)
            tally = {b: [g, s, f] for b, (g, s, f) in counts.items()}
            self._tallies[key] = tally
            while len(self._tallies) > self._keep_shifts:
                self._tallies.popitem(last=False)
        else:
            self._tallies.move_to_end(key)
        return tally

    def add(self, ts: float, count: int, kind: str, flags: int) -> None:
        """Add counted parts at event time ``ts`` to the live tallies."""
        with self.lock:
            if kind == "good" and count > 0 and (self.last_count_at is None or ts > self.last_count_at):
                self.last_count_at = ts
            if self.timeline.note_count(ts, count, kind):
                self._plans.clear()
            instance = self.calendar.at(ts)
            if instance is None:
                return
            row = self._tally(instance).setdefault(
                bucket_of(self.plan_for(instance), self.interval_seconds, ts), [0, 0, 0]
            )
            row[0 if kind == "good" else 1] += count
            row[2] |= flags
            if kind == "good":
                entry = self._trackers.get(instance.key)
                tracker = entry[1] if entry is not None and entry[0] is self._plans.get(instance.key) \
                    else self._tracker(instance)
                # Stop bounds in whole milliseconds, so a stop's seconds split into rows add up exactly.
                if count > 0:
                    changed = tracker.count(round(ts, 3))
                else:
                    tracker.withdraw(round(ts, 3))
                    changed = True
                if changed:
                    self.stop_version += 1
                    self.changed_shifts.add(instance.key)

    def prime(self, instance: ShiftInstance) -> None:
        """Load a shift's tallies and good-count times from the database before events for it are added."""
        with self.lock:
            self._tally(instance)
            self._tracker(instance)

    def is_primed(self, instance: ShiftInstance) -> bool:
        """Tell whether a shift's tallies and good-count times are in memory."""
        key = instance.key
        with self.lock:
            return key in self._tallies and key in self._trackers

    # --- stops ------------------------------------------------------------------------
    def _tracker(self, instance: ShiftInstance) -> CountStops:
        """Return the count-stop tracker of a shift, loading it once, refitting it when the plan changed."""
        key = instance.key
        plan = self.plan_for(instance)
        entry = self._trackers.get(key)
        if entry is None:
            stored = stop_rows.good_count_times(self.store, self.id, instance.start, instance.end)
            times = [round(t, 3) for t in stored]
            tracker = CountStops(instance.start, instance.end, plan.available_between,
                                 self.thresholds.stop_after(plan.takt), times)
            self._trackers[key] = (plan, tracker)
            while len(self._trackers) > KEEP_STOP_SHIFTS:
                self._trackers.popitem(last=False)
            return tracker
        fitted, tracker = entry
        if fitted is not plan:
            tracker.available = plan.available_between
            tracker.stop_after = self.thresholds.stop_after(plan.takt)
            tracker.rebuild()
            self._trackers[key] = (plan, tracker)
        return tracker

    def quiet_until(self, instance: ShiftInstance, now: float) -> float:
        """Return a time before which time alone opens no stop in the shift, as seen at ``now`` (``now``: none known).

        A count stop opens once the time since the last good count passes the stop time; that time is available
        time, never more than the time on the clock, so none opens before the last count plus the stop time.
        Run signals give no such promise, nor does a count ahead of the clock. (Count times are kept to the
        millisecond, so ``now`` is too in the comparison: a count just read is never ahead of it.)
        """
        with self.lock:
            if self.signal_log:
                return now
            tracker = self._tracker(instance)
            last, stop_after = tracker.last, tracker.stop_after
            if stop_after is None or last > round(now, 3):
                return now
            return min(last + stop_after, instance.end)

    def stop_periods(self, instance: ShiftInstance, now: float) -> list[OpenSpan]:
        """Return a shift's stops (count and run-signal stops merged) as seen at ``now``; end None: open.

        A stop runs from the last good count; one with no count before it in the shift, or whose last count
        fell in time the line was not planned to run (not scheduled, planned downtime, a planned stop), begins
        when the line was next expected to run (its available seconds are the same either way). A count in a
        break still begins the stop after it, as written.
        """
        with self.lock:
            counted = self._tracker(instance).stops(now)
            if self.signal_log:
                initial: dict[str, bool] = {sid: True for sid, role in self.roles.items() if role == "run_signal"}
                changes = []
                for ts, sid, value in self.signal_log:
                    if ts <= instance.start:
                        initial[sid] = value
                    else:
                        changes.append((ts, sid, value))
                counted = merge_stops(counted, signal_stops(initial, changes, instance.start, instance.end, now))
            if not counted:
                return counted
            plan = self.plan_for(instance)
            out: list[OpenSpan] = []
            for s, e in counted:
                if s == instance.start or plan.kind_at(s) in UNPLANNED_KINDS:
                    s = plan.available_from(s)
                if (s <= now) if e is None else (s < e):  # none of it in available time yet: no stop (yet)
                    out.append((s, e))
            return out

    def run_signal(self, source_id: str, ts: float, running: bool) -> bool:
        """Take a run signal's value at ``ts``; return True when it changed (the caller stores the change)."""
        with self.lock:
            if self.running.get(source_id, True) == running and source_id in self.running:
                return False
            self.running[source_id] = running
            self.signal_log.append((round(ts, 3), source_id, running))
            self.signal_log.sort()
            cutoff = ts - SIGNAL_MEMORY
            if self.signal_log[0][0] < cutoff:
                last = {sid: entry for entry in self.signal_log if entry[0] < cutoff for sid in [entry[1]]}
                self.signal_log = sorted([*last.values(), *(e for e in self.signal_log if e[0] >= cutoff)])
            self.stop_version += 1
            instance = self.calendar.at(ts)
            if instance is not None:
                self.changed_shifts.add(instance.key)
            return True

    # --- sources ----------------------------------------------------------------------
    def seen(self, source_id: str, at: float) -> None:
        """Note that a source delivered something."""
        status = self.sources.get(source_id)
        if status is not None:
            status.last_seen = at
            status.connecting = False

    def set_online(self, source_id: str, online: bool, detail: str = "") -> bool:
        """Record a source's availability; return True when it changed."""
        status = self.sources.get(source_id)
        if status is None:
            return False
        with self.lock:
            changed = status.online != online or status.connecting
            status.connecting = False
            status.online = online
            status.detail = "" if online else detail
            if online:
                status.last_seen = self.clock.now()
        return changed

    # --- views ------------------------------------------------------------------------
    def rows(self, instance: ShiftInstance, now: float) -> tuple[ShiftPlan, list[BoardRow], dict[int, int]]:
        """Return a shift's plan, rows and per-row trust flags as seen at ``now``."""
        with self.lock:
            plan = self.plan_for(instance)
            tally = self._tally(instance)
            counts = {b: (v[0], v[1]) for b, v in tally.items()}
            flags = {b: v[2] for b, v in tally.items() if v[2]}
        return plan, build_rows(plan, self.interval_seconds, counts, now, self.thresholds), flags

    def state(self, now: float | None = None) -> LineState:
        """Return the live line state (docs/interfaces.md); open andon calls are the andon service's to add."""
        return LineState.model_validate(state_document(self.state_fields(now)))

    def state_fields(self, now: float | None = None) -> dict[str, Any]:
        """Return the fields of the live line state as plain JSON values (nested ones in their models' order), for
        a caller that adds its own (open andon calls, stops)."""
        now = self.clock.now() if now is None else now
        instance = self.calendar.at(now)
        statuses = list(self.sources.values())
        sources = [s.snapshot() for s in statuses]
        source_view = [source_document(status, now, health) for status, health in zip(statuses, sources, strict=True)]
        with self.lock:
            views = production_views(self, now)
        if instance is None:
            condition, reason = line_condition(None, now, 0, self.last_count_at, self.thresholds, sources)
            return dict(
                line=self.id, name=self.config.display_name, at=iso(now) or "", condition=condition,
                reason=reason, shift=None, takt_seconds=None, plan_to_date=0, actual_to_date=0, scrap_to_date=0,
                delta=0, shift_target=0, current_interval=None, last_count_at=iso(self.last_count_at),
                sources=source_view, **views,
            )
        with self.lock:
            plan = self.plan_for(instance)
            # The figures to date are the current row's cumulative ones (the row as the board makes it), so
            # state and board agree; the other rows are not built (a busy line has a state per count).
            current, scrap = current_row(plan, self.interval_seconds, self._tally(instance), now, self.thresholds)
        planned, actual = current.cum_planned_so_far, current.cum_actual or 0
        delta = actual - planned
        condition, reason = line_condition(plan, now, delta, self.last_count_at, self.thresholds, sources)
        if reason == "line stopped" and views["changeover"] is not None and views["changeover"]["overrun"]:
            reason = "changeover overrun"
        stale = [s for s in sources if s.is_stale(now)]
        if reason == "not scheduled" and stale and self.timeline.waiting_at(now):
            # Waiting for the line's first count: a source that cannot be read is why none comes; say so.
            condition, reason = "stale", stale_reason(stale)
        return dict(
            line=self.id, name=self.config.display_name, at=iso(now) or "", condition=condition, reason=reason,
            shift=self._shift_view(instance), takt_seconds=plan.takt_seconds_at(now), plan_to_date=planned,
            actual_to_date=actual, scrap_to_date=scrap, delta=delta, shift_target=plan.target,
            current_interval={
                "start": iso(current.start) or "", "end": iso(current.end) or "", "planned": current.planned,
                "planned_so_far": current.planned_so_far, "actual": current.actual, "delta": current.delta,
                "condition": current.condition,
            },
            last_count_at=iso(self.last_count_at), sources=source_view, **views,
        )

    def _shift_view(self, instance: ShiftInstance) -> dict[str, str]:
        """Return a shift instance as the state shows it, made once (every state of the shift shows it; a copy,
        so no reader of one state changes the next)."""
        entry = self._shift_views.get(instance.key)
        if entry is None or (entry[0] is not instance and entry[0] != instance):
            if len(self._shift_views) >= 16:
                self._shift_views.clear()
            entry = self._shift_views[instance.key] = (instance, shift_view(instance).model_dump())
        return dict(entry[1])

    def row_shift(self, start: float) -> ShiftInstance:
        """Check that ``start`` begins a board row of the line (ServiceError 422 if not); return the row's shift."""
        instance = self.calendar.at(start)
        if instance is None or (start - instance.start) % self.interval_seconds != 0:
            raise ServiceError(422, f"{iso(start)} is not the start of a board row of line {self.id!r}", "bad_row")
        return instance

    def instance_for(self, day: date | None, shift_id: str | None, now: float) -> ShiftInstance | None:
        """Pick the shift a board asks for: given date/shift, else the current, else the latest."""
        if day is None and shift_id is None:
            return self.calendar.at(now) or self.calendar.latest_started(now)
        if day is None:
            day = self.calendar.local_date(now)
        if shift_id is None:
            shifts = self.calendar.on_date(day)
            return shifts[0] if len(shifts) == 1 else None
        return self.calendar.instance(shift_id, day)


def shift_view(instance: ShiftInstance) -> ShiftView:
    """Describe a shift instance for the state."""
    return ShiftView(
        id=instance.shift_id, name=instance.name, date=instance.date.isoformat(),
        start=iso(instance.start) or "", end=iso(instance.end) or "",
    )
