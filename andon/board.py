"""The hour-by-hour board as data: rows with reasons, problem links and trust marks; CSV."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from andon.calendar import ShiftInstance
from andon.config.losses import UNEXPLAINED
from andon.counting import FLAG_NAMES
from andon.line import LineRuntime, iso
from andon.stops import StopService
from andon.storage.tables import CounterIncidentRow, ProblemRow

OUTAGE_LOOKBACK = 7 * 86400  # an outage that began before the shift still marks its rows

CSV_COLUMNS = (
    "start", "end", "start_local", "end_local", "planned", "planned_so_far", "actual", "delta",
    "cum_planned", "cum_planned_so_far", "cum_actual", "cum_delta", "scrap", "condition", "current",
    "reason_required", "reason", "problem_id", "problem_status", "trust", "products",
    "stops", "stop_minutes", "unexplained_stop_minutes", "availability", "performance", "quality", "oee",
    "signed_off_at", "signed_off_by",
)


def trust_marks(flags: int, incidents: list[str], gap: bool = False) -> list[str]:
    """Name why a row's actual is not fully trusted (empty: fully trusted)."""
    marks = [name for bit, name in FLAG_NAMES.items() if flags & bit and name != "rollover"]
    if "reset" in incidents:
        marks.append("counter_reset")
    if gap:
        marks.append("gap")
    return marks


def outages(events: list[tuple[float, str, str]], until: float) -> list[tuple[float, float]]:
    """Turn (ts, source, offline|online) events, oldest first, into spans a source was offline."""
    down: dict[str, float] = {}
    spans = []
    for ts, source, kind in events:
        if kind == "offline":
            down.setdefault(source, ts)
        elif source in down:
            spans.append((down.pop(source), ts))
    spans.extend((start, until) for start in down.values())
    return spans


def board_dict(
    line: LineRuntime, instance: ShiftInstance, now: float, stops: StopService | None = None,
) -> dict[str, Any]:
    """Build a shift's board for the API (docs/interfaces.md); with the stop service, its stops and OEE too."""
    plan, rows, flags = line.rows(instance, now)
    store = line.store
    reasons = store.reasons(line.id, instance.start, instance.end)
    problem_ids = {p for _, p, _ in reasons.values() if p is not None}
    signoffs = store.signoffs(line.id, instance.start, instance.end)
    with store.session() as s:
        statuses = dict(
            s.execute(select(ProblemRow.id, ProblemRow.status).where(ProblemRow.id.in_(problem_ids)))
            .tuples()
            .all()
        ) if problem_ids else {}
        incidents = s.execute(
            select(CounterIncidentRow.ts, CounterIncidentRow.kind).where(
                CounterIncidentRow.line_id == line.id, CounterIncidentRow.kind == "reset",
                CounterIncidentRow.ts >= instance.start, CounterIncidentRow.ts < instance.end,
            )
        ).tuples().all()
        availability = s.execute(
            select(CounterIncidentRow.ts, CounterIncidentRow.source_id, CounterIncidentRow.kind)
            .where(
                CounterIncidentRow.line_id == line.id, CounterIncidentRow.kind.in_(("offline", "online")),
                CounterIncidentRow.ts >= instance.start - OUTAGE_LOOKBACK, CounterIncidentRow.ts < instance.end,
            )
            .order_by(CounterIncidentRow.id)
        ).tuples().all()
    by_row: dict[int, list[str]] = {}
    for ts, kind in incidents:
        by_row.setdefault(int((ts - instance.start) // line.interval_seconds), []).append(kind)
    gaps = outages([(float(t), str(src), str(k)) for t, src, k in availability], min(now, instance.end))
    out_rows = []
    for index, row in enumerate(rows):
        reason, problem_id, reason_by = reasons.get(row.start, (None, None, None))
        person, signed_by, signed_at = signoffs.get(row.start, (None, None, None))
        out_rows.append({
            "start": iso(row.start), "end": iso(row.end), "planned": row.planned,
            "planned_so_far": row.planned_so_far, "actual": row.actual, "delta": row.delta,
            "cum_planned": row.cum_planned, "cum_planned_so_far": row.cum_planned_so_far,
            "cum_actual": row.cum_actual, "cum_delta": row.cum_delta, "scrap": row.scrap,
            "condition": row.condition, "current": row.current, "reason_required": row.reason_required,
            "reason": reason, "reason_by": reason_by, "problem_id": problem_id,
            "problem_status": statuses.get(problem_id) if problem_id is not None else None,
            "trust": trust_marks(
                flags.get(index, 0), by_row.get(index, []),
                any(a < row.end and b > row.start and row.start <= now for a, b in gaps),
            ),
            "products": list(row.products),
            "signed_off_at": iso(signed_at), "signed_off_by": signed_by, "signed_off_person": person or None,
        })
    board = {
        "line": line.id, "name": line.config.display_name, "date": instance.date.isoformat(),
        "shift": instance.shift_id, "start": iso(instance.start), "end": iso(instance.end),
        "timezone": line.calendar.zone.key,
        "takt_seconds": plan.takt_seconds_at(min(max(now, instance.start), instance.end - 1e-3)),
        "shift_target": plan.target, "ideal_cycle_seconds": line.ideal_cycle_at(instance.start),
        "rows": out_rows, **production_of(line, instance, now),
    }
    if stops is not None:
        add_losses(board, line, instance, now, stops)
    return board


def production_of(line: LineRuntime, instance: ShiftInstance, now: float) -> dict[str, Any]:
    """Return a board's runs, changeover overruns and not-scheduled time in the shift (docs/interfaces.md)."""
    t0, t1 = instance.start, instance.end
    with line.lock:
        timeline = line.timeline
        runs = [
            {"product": r.product, "name": timeline.figures[r.product].name if r.product in timeline.figures
             else r.product, "start": iso(max(r.start, t0)), "end": iso(min(r.until, t1)) if r.until < t1 else None,
             "work_order": r.work_order}
            for r in timeline.runs_between(t0, min(t1, now))
        ] if timeline.has_products else []
        overruns = timeline.overruns(t0, t1, now)
        not_scheduled = timeline.not_scheduled(t0, min(t1, max(now, t0)))
    return {
        "product_names": {product_id: f.name for product_id, f in line.timeline.figures.items()},
        "runs": runs,
        "changeover_overruns": [{"start": iso(a), "end": iso(b)} for a, b in overruns],
        "not_scheduled": [{"start": iso(a), "end": iso(b)} for a, b in not_scheduled],
    }


def add_losses(board: dict[str, Any], line: LineRuntime, instance: ShiftInstance, now: float,
               stops: StopService) -> None:
    """Lay the shift's stops, and each row's and the shift's OEE and loss waterfall, on a board."""
    per_row, shift = stops.shift_losses(line, instance, now)
    records = sorted([*stops.sync(line, instance, now), *stops.planned(line, instance)], key=lambda r: r.start)
    described = [stops.describe(line, r, now) for r in records]
    for row, losses, (r0, r1) in zip(board["rows"], per_row, line.plan_for(instance).interval_bounds(
            line.interval_seconds), strict=True):
        row["stops"] = [d["id"] for d, rec in zip(described, records, strict=True)
                        if rec.start < min(r1, now) and (rec.end is None or rec.end > r0)]
        if losses.started:
            stopped = losses.planned_stop_ms + sum(losses.unplanned_ms.values()) + losses.small_stop_ms
            row["stop_minutes"] = round(stopped / 60000, 2)
            row["unexplained_stop_minutes"] = round(losses.unplanned_ms.get(UNEXPLAINED, 0) / 60000, 2)
            row.update(losses.as_dict())
        else:
            row.update({"stop_minutes": None, "unexplained_stop_minutes": None, "oee": None, "losses": None})
    board["stops"] = described
    board["totals"] = shift.as_dict()
    board["stop_prompt"] = next((d for d in reversed(described) if d["needs_reason"]), None)


def local_iso(value: str, zone: ZoneInfo) -> str:
    """Return a UTC ISO 8601 time as the plant's local time, with its offset."""
    return datetime.fromisoformat(value).astimezone(zone).isoformat()


# A text cell starting with one of these is run as a formula by spreadsheets (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """Return a value as a CSV cell: text a spreadsheet would run gets a leading quote; numbers stay numbers."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        value = ";".join(value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def board_csv(board: dict[str, Any]) -> str:
    """Render a board as CSV, one row per interval, UTC and plant-local times, blanks for what is not known yet."""
    zone = ZoneInfo(board["timezone"])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180; a CR inside a cell is then quoted
    writer.writerow(CSV_COLUMNS)
    for row in board["rows"]:
        cells = {**row, "start_local": local_iso(row["start"], zone), "end_local": local_iso(row["end"], zone)}
        figures = row.get("oee") or {}
        cells.update({k: figures.get(k) for k in ("availability", "performance", "quality", "oee")})
        cells["stops"] = len(row["stops"]) if row.get("losses") is not None else None
        cells.setdefault("stop_minutes", None)
        cells.setdefault("unexplained_stop_minutes", None)
        writer.writerow([csv_cell(cells.get(c)) for c in CSV_COLUMNS])
    return buffer.getvalue()
