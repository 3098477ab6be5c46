"""Stops as records: found by the engine, stored, explained by people and devices, split, planned ahead.

The engine finds stop periods from counts and run signals (``LineRuntime.stop_periods``); this service
keeps the stored stops equal to them (``sync``), so a restart rebuilds open and closed stops from the
stored counts and signals, and a stop keeps its id and reason while it grows, closes or is cut in two.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date
from typing import Any, NamedTuple

from andon.calendar import ShiftInstance
from andon.clock import Clock
from andon.config.losses import CHANGEOVER_OVERRUN
from andon.errors import ServiceError
from andon.line import LineRuntime, iso
from andon.losses import OpenSpan, stop_pieces
from andon.oee import SpanLosses, StopPiece, span_losses, total
from andon.plant import Plant
from andon.storage import stops as rows
from andon.storage.stops import StopRecord
from andon.storage.store import Store
from andon.takt import ShiftPlan

log = logging.getLogger(__name__)
INF = float("inf")
ShiftKey = tuple[str, tuple[str, str]]


class StopError(ServiceError):
    """A request about stops that cannot be carried out."""


def _overlap(a: OpenSpan, r: StopRecord) -> float:
    lo, hi = max(a[0], r.start), min(INF if a[1] is None else a[1], INF if r.end is None else r.end)
    return hi - lo


def _by_changeover(r: StopRecord) -> bool:
    """Whether a stop's reason is the changeover overrun the system gave it (not a person's)."""
    return r.reason == CHANGEOVER_OVERRUN and r.reason_by == "changeover"


def _in_overrun(t: float, overruns: list[tuple[float, float]]) -> bool:
    return any(a <= t < b for a, b in overruns)


class _Pieces(NamedTuple):
    """A shift's stop pieces and their records, with what the pieces were made of (stops, cut points, plan)."""

    pieces: tuple[OpenSpan, ...]
    records: list[StopRecord]
    stops: tuple[OpenSpan, ...]
    cuts: tuple[float, ...]
    plan: ShiftPlan


class StopService:
    """Keep a line's stored stops equal to the stops the engine finds; take reasons, splits and planned stops."""

    def __init__(self, plant: Plant, store: Store, clock: Clock) -> None:
        self.plant = plant
        self.store = store
        self.clock = clock
        self.lock = threading.RLock()
        self._cache: dict[ShiftKey, _Pieces] = {}
        self.versions: dict[str, int] = {}  # line -> grows with every change of its stops this service tells of
        self._splits: dict[ShiftKey, list[float]] = {}
        self._open: set[ShiftKey] = set()
        self._faults: dict[str, tuple[str, str]] = {}  # line -> (code, by) of an active PLC fault
        self._calls: dict[str, dict[int, str]] = {}  # line -> {andon call id: reason code}
        # Called with {"type": "stop", "event": open|close|reason|split|removed|planned, "line", "stop"}.
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        plant.reason_listeners.append(self.device_reason)
        for record in rows.open_stops(store):
            line = plant.lines.get(record.line_id)
            instance = line.calendar.at(record.start) if line is not None else None
            if instance is not None:
                self._open.add((record.line_id, instance.key))

    # --- keeping stored stops equal to the engine's -----------------------------------------
    def sync(self, line: LineRuntime, instance: ShiftInstance, now: float | None = None) -> list[StopRecord]:
        """Return a shift's detected stops, stored and up to date as seen at ``now``."""
        now = self.clock.now() if now is None else now
        if not line.is_primed(instance):
            self.plant.writer.flush()  # so the first load sees every count already taken
            line.prime(instance)
        with self.lock:
            key = (line.id, instance.key)
            plan = line.plan_for(instance)
            points = list(self._split_points(line, instance))
            for a, b in line.changeover_overruns(instance):
                points += [a, b]
            stops, cuts = tuple(line.stop_periods(instance, now)), tuple(points)
            cached = self._cache.get(key)
            if cached is not None and cached.plan is plan and (cached.stops, cached.cuts) == (stops, cuts):
                return cached.records  # the same stops, cut at the same points: the same pieces (a count costs no more)
            pieces = tuple(stop_pieces(stops, [], points, plan.available_between))
            if cached is not None and cached.pieces == pieces:
                self._cache[key] = _Pieces(pieces, cached.records, stops, cuts, plan)
                return cached.records
            old = cached.records if cached is not None else [
                r for r in rows.stops_between(self.store, [line.id], instance.start, instance.end)
                if r.origin == "detected" and instance.start <= r.start < instance.end
            ]
            records, events = self._reconcile(line, instance, pieces, old)
            self._cache[key] = _Pieces(pieces, records, stops, cuts, plan)
            if any(r.end is None for r in records):
                self._open.add(key)
            else:
                self._open.discard(key)
        for event, record in events:
            self._emit(event, line, record)
        return records

    def _reconcile(
        self, line: LineRuntime, instance: ShiftInstance, pieces: tuple[OpenSpan, ...], old: list[StopRecord],
    ) -> tuple[list[StopRecord], list[tuple[str, StopRecord]]]:
        taken: set[int] = set()
        plan: list[tuple[OpenSpan, StopRecord | None]] = []
        for piece in pieces:
            candidates = [r for r in old if r.id not in taken and _overlap(piece, r) > 0]
            best = max(candidates, key=lambda r: (_overlap(piece, r), -r.id), default=None)
            if best is not None:
                taken.add(best.id)
            plan.append((piece, best))
        inserts: list[StopRecord] = []
        updates: list[StopRecord] = []
        events: list[tuple[str, StopRecord]] = []
        overruns = line.changeover_overruns(instance)
        # New stops take their reasons from the old ones as they were, before any moves: the second half
        # of a split keeps the reason of the stop it was cut from.
        for (start, end), record in plan:
            if record is None:
                fresh = StopRecord(0, line.id, start, end)
                self._inherit(fresh, old, line, overruns)
                inserts.append(fresh)
        for (start, end), record in plan:
            if record is None:
                continue
            moved = (record.start, record.end) != (start, end)
            # A changeover that ended before this stop starts (its first part came) no longer explains it:
            # what is left is an ordinary, unexplained stop (also for a record stored so before).
            stale = _by_changeover(record) and not _in_overrun(start, overruns)
            if not moved and not stale:
                continue
            closed = record.end is None and end is not None
            record.start, record.end = start, end
            if stale:
                record.reason, record.reason_by, record.reason_at = None, "", None
            updates.append(record)
            if closed:
                events.append(("close", record))
        deletes = [r.id for r in old if r.id not in taken]
        for r in old:
            if r.id not in taken:
                log.info("line %s: stop %d at %s no longer stands (a late count); reason %s dropped",
                         line.id, r.id, iso(r.start), r.reason)
                events.append(("removed", r))
        stored = rows.apply_changes(self.store, inserts, updates, deletes) if inserts or updates or deletes else []
        fresh_ids = iter(stored)
        out: list[StopRecord] = []
        for _piece, record in plan:
            if record is None:
                record = next(fresh_ids)
                events.append(("open" if record.end is None else "close", record))
            out.append(record)
        return out, events

    def _inherit(
        self, fresh: StopRecord, old: list[StopRecord], line: LineRuntime, overruns: list[tuple[float, float]],
    ) -> None:
        """Give a new stop the reason of the stop it was cut from, else what the line knows of this stop.

        A changeover's overrun reason passes on only to a stop that starts inside the overrun."""
        in_overrun = _in_overrun(fresh.start, overruns)
        source = next((r for r in old if r.reason is not None and _overlap((fresh.start, fresh.end), r) > 0
                       and (in_overrun or not _by_changeover(r))), None)
        now = self.clock.now()
        if source is not None:
            fresh.reason, fresh.reason_by, fresh.reason_at, fresh.note = (
                source.reason, source.reason_by, source.reason_at, source.note)
            return
        if in_overrun:
            fresh.reason, fresh.reason_by, fresh.reason_at = CHANGEOVER_OVERRUN, "changeover", now
        elif line.id in self._faults:
            fresh.reason, fresh.reason_by = self._faults[line.id]
            fresh.reason_at = now
        elif self._calls.get(line.id):
            call_id, code = next(iter(self._calls[line.id].items()))
            fresh.reason, fresh.reason_by, fresh.reason_at = code, f"andon:{call_id}", now

    def _split_points(self, line: LineRuntime, instance: ShiftInstance) -> list[float]:
        key = (line.id, instance.key)
        points = self._splits.get(key)
        if points is None:
            points = rows.split_points(self.store, line.id, instance.start, instance.end)
            self._splits[key] = points
        return points

    def tick_line(self, line: LineRuntime, now: float | None = None) -> None:
        """Bring one line's current shift, and each of its shifts with an open or changed stop, up to date."""
        now = self.clock.now() if now is None else now
        with line.lock:
            keys = {k for lid, k in self._open if lid == line.id} | line.changed_shifts
            line.changed_shifts = set()
        current = line.calendar.at(now)
        instances = [current] if current is not None else []
        for date_text, shift_id in keys:
            instance = line.calendar.instance(shift_id, date.fromisoformat(date_text))
            if instance is not None and instance != current:
                instances.append(instance)
        for instance in instances:
            try:
                self.sync(line, instance, now)
            except Exception:
                log.exception("line %s: bringing the stops of %s up to date failed", line.id, instance.key)

    # --- reasons, splits, planned stops ------------------------------------------------------
    def _find(self, line: LineRuntime, stop_id: int) -> tuple[StopRecord, ShiftInstance | None]:
        record = rows.stop_by_id(self.store, stop_id)
        if record is None or record.line_id != line.id:
            raise StopError(404, f"line {line.id!r} has no stop {stop_id}")
        instance = line.calendar.at(record.start)
        if instance is not None and record.origin == "detected":
            for r in self.sync(line, instance):
                if r.id == stop_id:
                    return r, instance
            raise StopError(404, f"stop {stop_id} of line {line.id!r} no longer stands")
        return record, instance

    def set_reason(self, line_id: str, stop_id: int, code: str | None, note: str | None, by: str) -> StopRecord:
        """Give a stop its reason (None: unexplained again), with who gave it, when, and a note."""
        line = self.plant.line(line_id)
        if code is not None and code not in line.reasons:
            raise StopError(422, f"line {line_id!r} has no stop reason {code[:64]!r}; GET /api/lines/{line_id}/"
                                 "reasons lists them")
        with self.lock:
            record, _instance = self._find(line, stop_id)
            record.reason, record.reason_by, record.reason_at = code, by, self.clock.now()
            if note is not None:
                record.note = note
            rows.apply_changes(self.store, [], [record], [])
        log.info("line %s stop %d: reason %s by %s", line_id, stop_id, code, by)
        self._emit("reason", line, record)
        return record

    def split(self, line_id: str, stop_id: int, at: float, by: str) -> list[StopRecord]:
        """Cut a stop in two at ``at``; both halves keep its reason until each is given its own."""
        line = self.plant.line(line_id)
        with self.lock:
            record, instance = self._find(line, stop_id)
            end = self.clock.now() if record.end is None else record.end
            if record.origin != "detected" or instance is None:
                raise StopError(422, "only a stop the line found can be split; change a planned stop instead")
            if not record.start < at < end:
                raise StopError(422, f"{iso(at)} is not inside stop {stop_id} ({iso(record.start)} to {iso(end)})")
            rows.add_split(self.store, line_id, round(at, 3), by)
            self._splits.pop((line_id, instance.key), None)
            records = self.sync(line, instance)
        halves = [r for r in records if r.start == record.start or r.start == round(at, 3)]
        for half in halves:
            self._emit("split", line, half)
        return halves

    def add_planned(
        self, line_id: str, start: float, end: float, code: str, by: str, note: str = "",
    ) -> StopRecord:
        """Enter a planned stop ahead (a meeting, planned maintenance): it is taken out of the plan."""
        line = self.plant.line(line_id)
        reason = line.reasons.get(code)
        if reason is None:
            raise StopError(422, f"line {line_id!r} has no stop reason {code[:64]!r}")
        if not reason.planned:
            raise StopError(422, f"reason {code!r} is not a planned one; a planned stop needs a planned reason")
        if end <= start:
            raise StopError(422, "a planned stop must end after it starts")
        instances = [i for i in (line.calendar.at(start), line.calendar.at(end - 1e-3)) if i is not None]
        if not instances:
            raise StopError(422, f"{iso(start)} to {iso(end)} is outside every shift of line {line_id!r}")
        if rows.planned_spans(self.store, line_id, start, end):
            raise StopError(409, "another planned stop of this line overlaps that time")
        with self.lock:
            (record,) = rows.apply_changes(
                self.store, [StopRecord(0, line_id, start, end, "planned", code, by, self.clock.now(), note)], [], [])
            for instance in instances:
                line.forget_plan(instance.key)
        self.plant.notify(line_id)
        self._emit("planned", line, record)
        return record

    def device_reason(self, line_id: str, code: str | None, ts: float, by: str) -> None:
        """Take a reason from a device: a PLC fault (held while active), a gateway or a simulated line."""
        line = self.plant.line(line_id)
        if code is None:
            self._faults.pop(line_id, None)
            return
        if by.startswith("plc:"):
            self._faults[line_id] = (code, by)
        instance = line.calendar.at(ts)
        if instance is None:
            return
        records = self.sync(line, instance)
        now = self.clock.now()
        hit = [r for r in records if r.start <= ts <= (now if r.end is None else r.end)]
        if hit and (hit[-1].reason is None or not _by_person(hit[-1].reason_by)):
            record = hit[-1]
            if record.reason != code:
                self.set_reason(line_id, record.id, code, None, by)

    def on_andon(self, message: dict[str, Any]) -> None:
        """Follow andon calls: a call whose category maps to a reason explains the stop it comes with."""
        if message.get("type") != "andon":
            return
        call = message.get("call") or {}
        line = self.plant.lines.get(str(call.get("line")))
        if line is None:
            return
        code = line.config.losses.andon_reasons.get(str(call.get("category")))
        if code is None:
            return
        calls = self._calls.setdefault(line.id, {})
        if call.get("state") == "resolved":
            calls.pop(int(call["id"]), None)
            return
        if int(call["id"]) in calls:
            return
        calls[int(call["id"])] = code
        instance = line.calendar.at(self.clock.now())
        if instance is None:
            return
        for record in self.sync(line, instance):
            if record.end is None and record.reason is None:
                self.set_reason(line.id, record.id, code, None, f"andon:{call['id']}")

    # --- views --------------------------------------------------------------------------------
    def planned(self, line: LineRuntime, instance: ShiftInstance) -> list[StopRecord]:
        """Return the planned stops entered ahead for a shift."""
        return [r for r in rows.stops_between(self.store, [line.id], instance.start, instance.end)
                if r.origin == "planned"]

    def pieces(self, line: LineRuntime, instance: ShiftInstance, now: float) -> list[StopPiece]:
        """Return a shift's stops as the OEE arithmetic sees them (small, planned, category)."""
        plan = line.plan_for(instance)
        small_limit = line.config.losses.small_stop_seconds
        out = []
        for r in self.sync(line, instance, now):
            reason = line.reasons.get(r.reason) if r.reason is not None else None
            seconds = plan.available_between(r.start, now if r.end is None else r.end)
            planned = reason is not None and reason.planned
            out.append(StopPiece(r.start, r.end, planned, reason.category if reason else None,
                                 not planned and seconds < small_limit))
        return out

    def shift_losses(
        self, line: LineRuntime, instance: ShiftInstance, now: float,
    ) -> tuple[list[SpanLosses], SpanLosses]:
        """Return the losses of each board row of a shift and of the whole shift (the rows' sum)."""
        plan, board_rows, _flags = line.rows(instance, now)
        pieces = self.pieces(line, instance, now)
        excluded = plan.excluded_spans()
        per_row = [
            span_losses(r.start, r.end, now, excluded, plan.available_between, pieces, r.actual or 0, r.scrap or 0,
                        line.ideal_cycle_at(r.start))
            for r in board_rows
        ]
        return per_row, total(per_row)

    def describe(self, line: LineRuntime, record: StopRecord, now: float | None = None) -> dict[str, Any]:
        """Return a stop as the API shows it (docs/interfaces.md)."""
        now = self.clock.now() if now is None else now
        instance = line.calendar.at(record.start)
        reason = line.reasons.get(record.reason) if record.reason is not None else None
        end = now if record.end is None else record.end
        planned = record.origin == "planned" or (reason is not None and reason.planned)
        if instance is None:
            seconds = max(0.0, end - record.start)
        elif record.origin == "planned":
            plan = line.plan_for(instance)
            outside = [(a, b) for a, b, kind in plan.excluded_spans() if kind not in ("planned_stop", "changeover")]
            seconds = (min(end, now) - record.start) - sum(
                max(0.0, min(b, end) - max(a, record.start)) for a, b in outside)
            seconds = max(0.0, seconds)
        else:
            seconds = line.plan_for(instance).available_between(record.start, end)
        small = not planned and record.origin == "detected" and seconds < line.config.losses.small_stop_seconds
        limits = line.config.losses
        return {
            "id": record.id, "line": line.id, "start": iso(record.start), "end": iso(record.end),
            "open": record.end is None, "seconds": round(seconds, 3), "small": small,
            "reason": record.reason, "reason_name": reason.name if reason else None,
            "category": reason.category if reason else None, "planned": planned, "origin": record.origin,
            "reason_by": record.reason_by or None, "reason_at": iso(record.reason_at), "note": record.note,
            "needs_reason": record.reason is None and not small and record.origin == "detected"
            and now - record.start >= limits.reason_after_seconds,
        }

    def _emit(self, event: str, line: LineRuntime, record: StopRecord) -> None:
        self.versions[line.id] = self.versions.get(line.id, 0) + 1
        message = {"type": "stop", "event": event, "line": line.id, "stop": self.describe(line, record)}
        for listener in list(self.listeners):
            try:
                listener(message)
            except Exception:
                log.exception("a stop listener failed")
        self.plant.notify(line.id)


def _by_person(by: str) -> bool:
    return bool(by) and not by.startswith(("plc:", "source:", "andon:", "changeover"))
