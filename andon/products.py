"""Products and schedules: what a line makes (set by the API, the tablet, MQTT or a PLC), and when it is not
scheduled. Every change is stored in one transaction before it is applied and announced."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from andon.clock import Clock
from andon.counting import RejectedReading, parse_time
from andon.errors import ServiceError, StorageUnavailable
from andon.line import LineRuntime, iso
from andon.plant import Plant, UnknownLine
from andon.runs import OPEN_END, NotScheduled, Run, WorkOrder
from andon.storage import production
from andon.storage.store import Store

log = logging.getLogger(__name__)

FUTURE_SLACK_SECONDS = 5.0  # a change "at" up to this far ahead of the server's clock is taken as now
WAITING_REASON = "waiting for the line's first count"
Listener = Callable[[dict[str, Any]], None]


def run_dict(run: Run, line: LineRuntime) -> dict[str, Any]:
    """Describe a run for JSON (docs/interfaces.md)."""
    figures = line.timeline.figures.get(run.product)
    split = line.timeline.split_of(run)
    return {
        "id": run.id, "line": line.id, "product": run.product, "name": figures.name if figures else run.product,
        "start": iso(run.start), "end": iso(run.end), "work_order": run.work_order, "source": run.source,
        "set_by": run.set_by,
        "changeover": None if run.changeover_seconds is None or split is None else {
            "from_product": run.previous, "target_seconds": run.changeover_seconds,
            "end": iso(line.timeline.changeover_end(run)), "target_end": iso(split.target_end),
        },
    }


def period_dict(period: NotScheduled, line: LineRuntime) -> dict[str, Any]:
    """Describe a not-scheduled period for JSON; a waiting period ends at the line's first count or run."""
    span = period.effective(line.timeline.first_data)
    end = None if span is None or math.isinf(span[1]) else span[1]
    return {
        "start": iso(period.start) if period.start > 0 else None, "end": iso(end) if span else iso(period.start),
        "reason": period.reason, "until_first_count": period.until_first_count, "set_by": period.set_by,
    }


class ProductService:
    """Set the product a line makes and its not-scheduled periods; announce each change to listeners."""

    def __init__(self, plant: Plant, store: Store, clock: Clock) -> None:
        self.plant = plant
        self.store = store
        self.clock = clock
        self.listeners: list[Listener] = []
        self._locks = {line_id: threading.Lock() for line_id in plant.lines}
        self._warned: set[tuple[str, str]] = set()

    def _line(self, line_id: str) -> LineRuntime:
        try:
            return self.plant.line(line_id)
        except UnknownLine:
            raise ServiceError(404, f"no line {line_id!r}") from None

    def announce(self, message: dict[str, Any]) -> None:
        """Send an event to every listener (the live hub)."""
        for listener in list(self.listeners):
            try:
                listener(message)
            except Exception:
                log.exception("a product listener failed")

    # --- products ----------------------------------------------------------------------------
    def set_product(
        self, line_id: str, product: str, *, at: float | None = None, work_order: str | None = None, by: str = "",
        source: str = "api", quantity: int | None = None, due: float | None = None,
    ) -> dict[str, Any]:
        """Change what a line makes from ``at`` (default now); return the run, and whether anything changed."""
        line = self._line(line_id)
        with self._locks[line_id]:
            return self._set_product(line, product, at, work_order, by, source, quantity, due)

    def _set_product(
        self, line: LineRuntime, product: str, at: float | None, work_order: str | None, by: str, source: str,
        quantity: int | None, due: float | None,
    ) -> dict[str, Any]:
        timeline = line.timeline
        if not timeline.has_products:
            raise ServiceError(409, f"line {line.id!r} has no products in its configuration")
        if product not in timeline.figures:
            raise ServiceError(422, f"line {line.id!r} cannot run product {product!r}; it runs "
                                    f"{', '.join(timeline.figures)}")
        now = self.clock.now()
        at = now if at is None else at
        if at > now + FUTURE_SLACK_SECONDS:
            raise ServiceError(422, f"a product change at {iso(at)} is in the future (now {iso(now)})")
        at = min(at, now)
        current = timeline.current()
        if current is not None and current.product == product and current.work_order == work_order:
            return {"changed": False, "run": run_dict(current, line)}
        if current is not None and at <= current.start:
            raise ServiceError(409, f"the run of {current.product} started at {iso(current.start)}; a change must "
                                    "come after the last one")
        order, new_order = self._order_for(line, product, work_order, quantity, due, now, by)
        previous = current.product if current is not None else self._made_before(line, at)
        minutes = timeline.changeover_minutes(previous, product)
        run = Run(0, product, at, None, work_order, None if minutes is None else minutes * 60, previous, source, by)
        paused = self._paused_order(line, current, work_order)
        with self.store.transaction() as s:
            if new_order and order is not None:
                production.add_order(s, order)
            run = replace(run, id=production.open_run(s, line.id, run, current.id if current else None, now))
            if paused is not None:
                production.set_order_state(s, paused.id, "paused", at)
            if order is not None and order.state != "started":
                production.set_order_state(s, order.id, "started", at)
        # Counts wait while the change is applied, and those taken so far are written first, so the run's
        # first part and the order's parts are read whole from storage (as a restart would read them).
        with self.plant.counts_held(), line.lock:
            timeline.add_run(run)
            if paused is not None:
                timeline.orders[paused.id] = replace(paused, state="paused")
            if order is not None:
                timeline.orders[order.id] = replace(order, state="started", started_at=order.started_at or at)
            # A change placed in the past moves parts from the run before to this one: count both orders again.
            for order_id in {current.work_order if current else None, work_order} - {None}:
                if order_id is not None and order_id in timeline.orders:
                    timeline.made[order_id] = self._made(line, order_id)
            line.forget_plans()
        self.plant.notify(line.id)
        previous_run = timeline.runs[-2] if len(timeline.runs) > 1 else None
        self.announce({"type": "product", "line": line.id, "run": run_dict(run, line),
                       "previous": run_dict(previous_run, line) if previous_run else None})
        events = [("paused", paused)] + ([("created", order)] if new_order else []) + [("started", order)]
        for action, changed in events:
            if changed is not None:
                state = "planned" if action == "created" else action
                self.announce({"type": "work_order", "line": line.id, "action": action,
                               "order": {"id": changed.id, "product": changed.product, "state": state,
                                         "quantity": changed.quantity}})
        log.info("line %s makes %s from %s (%s%s)", line.id, product, iso(at), source,
                 f", work order {work_order}" if work_order else "")
        return {"changed": True, "run": run_dict(run, line)}

    def _order_for(
        self, line: LineRuntime, product: str, work_order: str | None, quantity: int | None, due: float | None,
        now: float, by: str,
    ) -> tuple[WorkOrder | None, bool]:
        """Return the stored work order a change names (or a new one, when a quantity comes with it)."""
        if work_order is None:
            return None, False
        order = line.timeline.orders.get(work_order) or production.get_order(self.store, work_order)
        if order is None:
            if quantity is None:
                return None, False  # an order number only: recorded on the run, no progress without a quantity
            return WorkOrder(work_order, line.id, product, quantity, due, "planned", now, by), True
        if order.line != line.id:
            raise ServiceError(422, f"work order {work_order!r} is for line {order.line!r}, not {line.id!r}")
        if order.product != product:
            raise ServiceError(422, f"work order {work_order!r} is for product {order.product!r}, not {product!r}")
        if order.state == "completed":
            raise ServiceError(409, f"work order {work_order!r} is completed")
        return order, False

    @staticmethod
    def _made_before(line: LineRuntime, at: float) -> str | None:
        """Return the first listed product when the line counted parts before its first product was set, else None.

        Such a line was making its first listed product, so a change from it is a changeover; a line that made
        nothing yet has nothing to change over from.
        """
        first = line.timeline.first_data
        return line.timeline.default_product if first is not None and first < at else None

    def _paused_order(self, line: LineRuntime, current: Run | None, work_order: str | None) -> WorkOrder | None:
        if current is None or current.work_order is None or current.work_order == work_order:
            return None
        order = line.timeline.orders.get(current.work_order)
        return order if order is not None and order.state == "started" else None

    def _made(self, line: LineRuntime, order_id: str) -> int:
        """Return the good parts stored for an order's runs."""
        spans = [(r.start, r.end) for r in line.timeline.order_runs(order_id)]
        return production.made_between(self.store, line.id, spans)

    def runs(self, line_id: str, t0: float, t1: float) -> list[dict[str, Any]]:
        """Return the runs of a line overlapping [t0, t1)."""
        line = self._line(line_id)
        with line.lock:
            return [run_dict(r, line) for r in line.timeline.runs_between(t0, t1)]

    # --- product sources ------------------------------------------------------------------------
    def reading(
        self, line_id: str, source_id: str, value: Any, *, ts: Any = None, on_stored: Callable[[], None] | None = None,
    ) -> None:
        """Take a product source's value (a product id, or {product, work_order?, quantity?}); refuse bad ones."""
        try:
            fields = value if isinstance(value, dict) else {"product": value}
            product = fields.get("product")
            if not isinstance(product, str) or not product:
                raise ServiceError(422, f"no product id in {str(value)[:60]!r}")
            order = fields.get("work_order")
            quantity = fields.get("quantity")
            at = parse_time(ts, self.clock.now()) if ts is not None else None
            self.set_product(
                line_id, product, at=at, work_order=str(order) if order is not None else None, by=source_id,
                source=source_id, quantity=quantity if isinstance(quantity, int) and quantity > 0 else None,
            )
        except StorageUnavailable:
            raise
        except (ServiceError, RejectedReading) as exc:
            reason = "unknown_product" if getattr(exc, "status", 0) == 422 else "product_refused"
            self.plant.metrics.rejected.labels(line_id, reason).inc()
            level = logging.DEBUG if (line_id, str(exc)) in self._warned else logging.WARNING
            self._warned.add((line_id, str(exc)))
            log.log(level, "line %s source %s: product reading refused: %s", line_id, source_id, exc)
        if on_stored is not None:
            on_stored()

    # --- not scheduled --------------------------------------------------------------------------
    def set_schedule(
        self, line_id: str, scheduled: bool, start: float | None, end: float | None, reason: str = "", by: str = "",
    ) -> list[dict[str, Any]]:
        """Mark [start, end) (default from now, open-ended) scheduled or not; return the line's periods."""
        line = self._line(line_id)
        start = self.clock.now() if start is None else start
        if end is not None and end <= start:
            raise ServiceError(422, f"the period ends ({iso(end)}) before it starts ({iso(start)})")
        with self._locks[line_id]:
            upto = OPEN_END if end is None else end
            kept: list[NotScheduled] = []
            for period in line.timeline.periods:
                p_end = OPEN_END if period.end is None else period.end
                if p_end <= start or period.start >= upto:
                    kept.append(period)
                    continue
                if period.start < start:
                    kept.append(replace(period, end=start))
                if p_end > upto:
                    kept.append(replace(period, start=upto))
            if not scheduled:
                kept.append(NotScheduled(0, start, end, reason, False, by))
            with self.store.transaction() as s:
                stored = production.replace_not_scheduled(s, line.id, kept, self.clock.now())
            with line.lock:
                line.timeline.set_periods(stored)
                line.forget_plans()
        self.plant.notify(line.id)
        periods = self.schedule(line_id)
        self.announce({"type": "schedule", "line": line.id, "not_scheduled": periods})
        return periods

    def schedule(self, line_id: str, t0: float | None = None, t1: float | None = None) -> list[dict[str, Any]]:
        """Return a line's not-scheduled periods overlapping [t0, t1) (default: all)."""
        line = self._line(line_id)
        lo, hi = (t0 if t0 is not None else -OPEN_END), (t1 if t1 is not None else OPEN_END)
        with line.lock:
            out = []
            for period in line.timeline.periods:
                span = period.effective(line.timeline.first_data)
                if span is not None and span[0] < hi and span[1] > lo:
                    out.append(period_dict(period, line))
            return out

    def mark_unwatched(self) -> list[str]:
        """Mark every line with nothing stored yet not scheduled until its first count or run; return their ids.

        Run by ``andon run``/``serve`` at start: a line first watched mid-shift is judged from its first count,
        not from the shift's start.
        """
        marked = []
        for line_id, line in self.plant.lines.items():
            if production.has_any_data(self.store, line_id):
                continue
            with self._locks[line_id]:
                waiting = NotScheduled(0, 0.0, None, WAITING_REASON, True, "andon")
                with self.store.transaction() as s:
                    stored = production.replace_not_scheduled(s, line_id, [waiting], self.clock.now())
                with line.lock:
                    line.timeline.set_periods(stored)
                    line.forget_plans()
            marked.append(line_id)
            log.info("line %s has no data yet: not scheduled until its first count or product", line_id)
        return marked
