"""Loss reports: the loss Pareto (by reason or category, scrap by reason) and OEE trends by shift, day or week.

Both read stored stops and counts for whole shifts whose date lies in the range; a shift's figures are the
same ``SpanLosses`` the board adds up from its rows, so a trend's shift equals the board's shift total.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from sqlalchemy import case, func, select, text

from andon.calendar import ShiftInstance
from andon.clock import Clock
from andon.config.losses import UNEXPLAINED
from andon.line import LineRuntime, iso
from andon.oee import SpanLosses, StopPiece, span_losses, total
from andon.plant import Plant
from andon.stops import StopService
from andon.storage import production
from andon.storage import stops as stop_rows
from andon.storage.stops import StopSpan
from andon.storage.tables import QUARTER_SECONDS, CountEventRow, CountQuarterRow

ShiftFigures = tuple[LineRuntime, ShiftInstance, SpanLosses, list[tuple[StopSpan, float, bool]]]


def _by_shift(records: list[StopSpan], shifts: list[ShiftInstance]) -> dict[int, list[StopSpan]]:
    """Return the stops that start in each shift, by the shift's index (a line's shifts never overlap)."""
    order = sorted(range(len(shifts)), key=lambda k: shifts[k].start)
    starts = [shifts[k].start for k in order]
    out: dict[int, list[StopSpan]] = defaultdict(list)
    for r in records:
        at = bisect_right(starts, r.start) - 1
        if at >= 0 and r.start < shifts[order[at]].end:
            out[order[at]].append(r)
    return out


class LossReports:
    """Compute the Pareto and OEE trends of lines over whole shifts."""

    def __init__(self, plant: Plant, stops: StopService, clock: Clock) -> None:
        self.plant = plant
        self.stops = stops
        self.clock = clock

    def _shifts(self, line: LineRuntime, first: date, last: date) -> list[ShiftInstance]:
        now = self.clock.now()
        out: list[ShiftInstance] = []
        day = first
        while day <= last:
            out.extend(i for i in line.calendar.on_date(day) if i.start < now)
            day += timedelta(days=1)
        return out

    def shift_figures(self, lines: list[LineRuntime], first: date, last: date) -> list[ShiftFigures]:
        """Return, for every started shift of the lines in the range, its losses and its stops (seconds, small)."""
        self.plant.writer.flush()
        now = self.clock.now()
        out: list[ShiftFigures] = []
        # Shifts over before a line's first count have no data (the system was not watching), as in the
        # summaries: they would read as a whole shift of downtime, or of nothing at all.
        watched_from = {line.id: production.first_count(self.plant.store, line.id) for line in lines}
        shifts_of = {line.id: shifts for line in lines if (shifts := [
            i for i in self._shifts(line, first, last) if (t := watched_from[line.id]) is not None and i.end > t])}
        if not shifts_of:
            return out
        for line in lines:
            current = line.calendar.at(now)
            if line.id in shifts_of and current is not None and current in shifts_of[line.id]:
                self.stops.sync(line, current, now)
        # One read of the stops and one of the counts for every line (not one per line): a plant-wide
        # report of 50 lines spends most of its time in the database layer otherwise.
        start = min(s[0].start for s in shifts_of.values())
        end = max(s[-1].end for s in shifts_of.values())
        records_of: dict[str, list[StopSpan]] = defaultdict(list)
        for record in stop_rows.stop_spans(self.plant.store, list(shifts_of), start, end):
            records_of[record.line_id].append(record)
        counts = self._counts(lines, shifts_of, start, end)
        for line in lines:
            if line.id not in shifts_of:
                continue
            shifts = shifts_of[line.id]
            by_shift = _by_shift(records_of.get(line.id, []), shifts)
            for index, instance in enumerate(shifts):
                plan = line.plan_for(instance)
                mine = by_shift.get(index, [])
                good, scrap = counts.get((line.id, instance.key), (0, 0))
                if not mine and not good and not scrap:
                    # Nothing counted and no stop stored: a shift the server was not running for. Bring its
                    # stops up to date now, as its board would, so reading it later changes nothing.
                    mine = [StopSpan(r.line_id, r.start, r.end, r.origin, r.reason)
                            for r in self.stops.sync(line, instance, now)]
                pieces: list[StopPiece] = []
                described: list[tuple[StopSpan, float, bool]] = []
                for r in mine:
                    reason = line.reasons.get(r.reason) if r.reason is not None else None
                    end = now if r.end is None else r.end
                    if r.origin == "planned":
                        described.append((r, 0.0, False))
                        continue
                    seconds = plan.available_between(r.start, end)
                    planned = reason is not None and reason.planned
                    small = not planned and seconds < line.config.losses.small_stop_seconds
                    category = reason.category if reason else None
                    pieces.append(StopPiece(r.start, r.end, planned, category, small, seconds))
                    described.append((r, seconds, small))
                if line.timeline.has_products:
                    # The board's own figures: each row's parts at the ideal cycle of the product it made.
                    losses = self.stops.shift_losses(line, instance, now)[1]
                else:
                    ideal = line.ideal_cycle_at(instance.start)
                    losses = span_losses(instance.start, instance.end, now, plan.excluded_spans(),
                                         plan.available_between, pieces, good, scrap, ideal)
                out.append((line, instance, losses, described))
        return out

    def _counts(self, lines: list[LineRuntime], shifts_of: dict[str, list[ShiftInstance]], start: float,
                end: float) -> dict[tuple[str, tuple[str, str]], tuple[int, int]]:
        """Return (good, scrap) per line and shift: from the quarter-hour totals when every shift bound is on one."""
        q = QUARTER_SECONDS
        out: dict[tuple[str, tuple[str, str]], tuple[int, int]] = {}
        on_quarters = {line_id for line_id, shifts in shifts_of.items()
                       if not any(i.start % q or i.end % q for i in shifts)}
        for line in lines:
            if line.id in shifts_of and line.id not in on_quarters:
                for i in shifts_of[line.id]:
                    out[(line.id, i.key)] = self._counted(line, i.start, i.end)
        spans = [(line_id, index, int(i.start // q), int(i.end // q))
                 for line_id in sorted(on_quarters) for index, i in enumerate(shifts_of[line_id])]
        slot = {line_id: f"l{n}" for n, line_id in enumerate(sorted(on_quarters))}
        with self.plant.store.engine.connect() as conn:
            # The database sums each shift's quarters (a join on a list of spans, some hundred at a time),
            # not Python over 30,000 rows. The spans are whole numbers written into the text; only the line
            # ids are bound (one name per line), so building the query costs next to nothing.
            for at in range(0, len(spans), 200):
                rows = ", ".join(f"(:{slot[line_id]}, {int(k)}, {int(a)}, {int(b)})"
                                 for line_id, k, a, b in spans[at:at + 200])
                stmt = text(
                    f"WITH spans(line_id, k, a, b) AS (VALUES {rows}) "
                    "SELECT spans.line_id, spans.k, sum(q.good), sum(q.scrap) FROM spans "
                    f"JOIN {CountQuarterRow.__tablename__} AS q ON q.line_id = spans.line_id AND q.quarter >= spans.a "
                    "AND q.quarter < spans.b GROUP BY spans.line_id, spans.k")
                binds = {slot[line_id]: line_id for line_id, _k, _a, _b in spans[at:at + 200]}
                for line_id, index, good, scrap in conn.execute(stmt, binds).all():
                    out[(line_id, shifts_of[line_id][index].key)] = (int(good or 0), int(scrap or 0))
        return out

    def _counted(self, line: LineRuntime, start: float, end: float) -> tuple[int, int]:
        good = func.sum(case((CountEventRow.kind == "good", CountEventRow.count), else_=0))
        scrap = func.sum(case((CountEventRow.kind == "scrap", CountEventRow.count), else_=0))
        stmt = select(good, scrap).where(CountEventRow.line_id == line.id, CountEventRow.ts >= start,
                                         CountEventRow.ts < end)
        with self.plant.store.engine.connect() as conn:
            g, sc = conn.execute(stmt).one()
        return int(g or 0), int(sc or 0)

    def pareto(self, lines: list[LineRuntime], first: date, last: date, by: str) -> dict[str, Any]:
        """Return stop seconds and occurrences by reason or category, biggest first, small stops and scrap apart."""
        figures = self.shift_figures(lines, first, last)
        groups: dict[str, dict[str, Any]] = {}
        small = {"seconds": 0.0, "occurrences": 0}
        for line, _instance, _losses, described in figures:
            for record, seconds, is_small in described:
                if record.origin == "planned":
                    continue
                if is_small:
                    small["seconds"] += seconds
                    small["occurrences"] += 1
                    continue
                reason = line.reasons.get(record.reason) if record.reason is not None else None
                if by == "category":
                    key = reason.category if reason else UNEXPLAINED
                    entry = groups.setdefault(key, {"category": key, "seconds": 0.0, "occurrences": 0,
                                                    "planned": bool(reason and reason.planned)})
                else:
                    key = reason.code if reason else UNEXPLAINED
                    entry = groups.setdefault(key, {
                        "reason": reason.code if reason else None, "name": reason.name if reason else "Unexplained",
                        "category": reason.category if reason else UNEXPLAINED,
                        "planned": bool(reason and reason.planned), "seconds": 0.0, "occurrences": 0})
                entry["seconds"] += seconds
                entry["occurrences"] += 1
        items = sorted(groups.values(), key=lambda e: (-e["seconds"], -e["occurrences"], str(e.get("reason"))))
        for entry in items:
            entry["seconds"] = round(entry["seconds"], 3)
            entry["minutes"] = round(entry["seconds"] / 60, 2)
        start = min((i.start for _l, i, _x, _d in figures), default=None)
        end = max((i.end for _l, i, _x, _d in figures), default=None)
        scrap = stop_rows.scrap_by_reason(self.plant.store, [x.id for x in lines], start or 0.0, end or 0.0)
        names = {code: r.name for x in lines for code, r in x.reasons.items()}
        return {
            "lines": [x.id for x in lines], "from": first.isoformat(), "to": last.isoformat(), "by": by,
            "items": items,
            "small_stops": {"seconds": round(small["seconds"], 3), "minutes": round(small["seconds"] / 60, 2),
                            "occurrences": small["occurrences"]},
            "scrap": sorted(({"reason": code, "name": names.get(code, "No reason") if code else "No reason",
                              "parts": n} for code, n in scrap.items()), key=lambda e: -int(e["parts"])),
            "totals": total(losses for _l, _i, losses, _d in figures).as_dict(),
        }

    def trend(self, lines: list[LineRuntime], first: date, last: date, by: str) -> dict[str, Any]:
        """Return OEE and the loss waterfall per shift, day or ISO week, oldest first."""
        buckets: dict[str, list[SpanLosses]] = defaultdict(list)
        order: list[str] = []
        for line, instance, losses, _d in self.shift_figures(lines, first, last):
            if by == "shift":
                label = f"{instance.date.isoformat()} {instance.shift_id}" + ("" if len(lines) == 1 else f" {line.id}")
            elif by == "week":
                year, week, _ = instance.date.isocalendar()
                label = f"{year}-W{week:02d}"
            else:
                label = instance.date.isoformat()
            if label not in buckets:
                order.append(label)
            buckets[label].append(losses)
        periods = []
        for label in sorted(order):
            summed = total(buckets[label])
            periods.append({"period": label, **summed.as_dict()})
        return {"lines": [x.id for x in lines], "from": first.isoformat(), "to": last.isoformat(), "by": by,
                "periods": periods, "generated_at": iso(self.clock.now())}
