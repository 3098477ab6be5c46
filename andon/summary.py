"""Daily and weekly summaries for trends: plan attainment, downtime, andon response by category."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from andon.clock import Clock
from andon.line import LineRuntime
from andon.plant import Plant
from andon.signoffs import signoff_figures, signoff_summary
from andon.storage import production
from andon.storage.tables import AndonCallRow, CountEventRow


def percentile(values: list[float], q: float) -> float | None:
    """Return the q-th percentile (nearest rank) of values, or None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


class Summaries:
    """Compute summaries from the database and the engine's plans."""

    def __init__(self, plant: Plant, clock: Clock) -> None:
        self.plant = plant
        self.clock = clock

    def daily(self, line_id: str, days: int) -> list[dict[str, Any]]:
        """Return one summary per local day, oldest first, ending today."""
        line = self.plant.line(line_id)
        self.plant.writer.flush()  # downtime reads event times from the database
        today = line.calendar.local_date(self.clock.now())
        out = []
        for back in range(days - 1, -1, -1):
            day = today - timedelta(days=back)
            out.append(self.period(line, day.isoformat(), [day]))
        return out

    def weekly(self, line_id: str, weeks: int) -> list[dict[str, Any]]:
        """Return one summary per ISO week (Monday start), oldest first, ending this week."""
        line = self.plant.line(line_id)
        self.plant.writer.flush()
        today = line.calendar.local_date(self.clock.now())
        monday = today - timedelta(days=today.weekday())
        out = []
        for back in range(weeks - 1, -1, -1):
            start = monday - timedelta(weeks=back)
            year, week, _ = start.isocalendar()
            out.append(self.period(line, f"{year}-W{week:02d}", [start + timedelta(days=i) for i in range(7)]))
        return out

    def period(self, line: LineRuntime, label: str, days: list[date]) -> dict[str, Any]:
        """Sum a period's shifts; a period without a counted shift has null figures, never 0 %."""
        now = self.clock.now()
        first = production.first_count(line.store, line.id)
        shifts = planned = actual = scrap = 0
        downtime = 0.0
        rows_over = 0
        delays: list[float] = []
        for day in days:
            for instance in line.calendar.on_date(day):
                # Shifts to come, and shifts over before the line's first count (the system was not
                # watching then), have no data: they would read as 0 % made and all of it downtime.
                if instance.start >= now or first is None or instance.end <= first:
                    continue
                shifts += 1
                end = min(instance.end, now)
                plan, rows, _ = line.rows(instance, now)
                planned += plan.plan_at(end)
                actual += sum(r.actual or 0 for r in rows)
                scrap += sum(r.scrap or 0 for r in rows)
                downtime += self._downtime(line, plan, instance.start, end)
                signoffs = line.store.signoffs(line.id, instance.start, instance.end)
                finished, signed = signoff_figures(rows, signoffs, now)
                rows_over += finished
                delays += signed
        zone = line.calendar.zone
        t0 = datetime.combine(days[0], datetime.min.time(), tzinfo=zone).timestamp()
        t1 = datetime.combine(days[-1] + timedelta(days=1), datetime.min.time(), tzinfo=zone).timestamp()
        figures: dict[str, Any] = {
            "planned": planned, "actual": actual,
            "attainment": round(actual / planned, 4) if planned else None, "scrap": scrap,
            "downtime_minutes": round(downtime / 60, 2),
        } if shifts else dict.fromkeys(("planned", "actual", "attainment", "scrap", "downtime_minutes"))
        return {
            "period": label, "line": line.id, "shifts": shifts, **figures,
            "andon": self._andon(line.id, t0, t1, now),
            "signoff": signoff_summary(rows_over, delays),
        }

    def _downtime(self, line: LineRuntime, plan: Any, start: float, end: float) -> float:
        """Return available seconds lost to stops: gaps between good counts of at least the stop time."""
        stop_after = line.thresholds.stop_after(plan.takt)
        if stop_after is None:
            return 0.0
        stmt = (
            select(CountEventRow.ts)
            .where(CountEventRow.line_id == line.id, CountEventRow.ts >= start, CountEventRow.ts < end,
                   CountEventRow.kind == "good", CountEventRow.count > 0)
            .order_by(CountEventRow.ts)
        )
        with line.store.engine.connect() as conn:
            times = [float(t) for (t,) in conn.execute(stmt)]
        total = 0.0
        previous = start
        for t in [*times, end]:
            gap = plan.available_between(previous, t)
            if gap >= stop_after:
                total += gap
            previous = t
        return total

    def _andon(self, line_id: str, t0: float, t1: float, now: float) -> dict[str, Any]:
        """Count calls raised in [t0, t1) by category; a call not answered yet counts with its age at now."""
        stmt = select(AndonCallRow).where(
            AndonCallRow.line_id == line_id, AndonCallRow.raised_at >= t0, AndonCallRow.raised_at < t1
        )
        by_category: dict[str, dict[str, list[float]]] = {}
        count: dict[str, int] = {}
        still_open: dict[str, int] = {}
        waiting: dict[str, int] = {}
        with self.plant.store.session() as s:
            for call in s.execute(stmt).scalars():
                bucket = by_category.setdefault(call.category, {"response": [], "resolution": []})
                count[call.category] = count.get(call.category, 0) + 1
                answered = call.acknowledged_at if call.acknowledged_at is not None else now
                resolved = call.resolved_at if call.resolved_at is not None else now
                bucket["response"].append(round(max(0.0, answered - call.raised_at), 3))
                bucket["resolution"].append(round(max(0.0, resolved - call.raised_at), 3))
                still_open[call.category] = still_open.get(call.category, 0) + (call.resolved_at is None)
                waiting[call.category] = waiting.get(call.category, 0) + (call.acknowledged_at is None)
        return {
            category: {
                "count": count[category], "open": still_open[category], "unacknowledged": waiting[category],
                "mean_response_s": _mean(v["response"]), "p90_response_s": percentile(v["response"], 90),
                "mean_resolution_s": _mean(v["resolution"]), "p90_resolution_s": percentile(v["resolution"], 90),
            }
            for category, v in sorted(by_category.items())
        }
