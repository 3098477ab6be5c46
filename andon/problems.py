"""Problems (PDCA): the improvement loop, linked to andon calls and missed board rows."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from andon.clock import Clock
from andon.errors import ServiceError
from andon.line import LineRuntime, iso
from andon.plant import Plant
from andon.stops import StopService
from andon.storage import stops as stop_rows
from andon.storage.store import Store
from andon.storage.tables import AndonCallRow, ProblemLinkRow, ProblemRow, RowReasonRow

log = logging.getLogger(__name__)

STATUSES = ("open", "plan", "do", "check", "act", "closed")
EDITABLE = ("title", "category", "description", "owner", "due_date", "root_cause", "countermeasure",
            "countermeasure_date", "status", "reason_code")
CHECK_WEEKS = 4  # weeks of a linked reason code shown before and after the countermeasure
SUGGEST_MIN_ROWS = 3
SUGGEST_DAYS = 7


class ProblemError(ServiceError):
    """A request about problems that cannot be carried out."""


class ProblemService:
    """Create, update and list problems; write row reasons; suggest problems from recurring reasons."""

    def __init__(self, plant: Plant, store: Store, clock: Clock, stops: StopService) -> None:
        self.plant = plant
        self.store = store
        self.clock = clock
        self.stops = stops
        # Called with {"type": "problem", ...} and {"type": "board", "line": ...} after each change.
        self.listeners: list[Callable[[dict[str, Any]], None]] = []

    def _announce(self, problem: dict[str, Any] | None, line_id: str) -> None:
        messages = [{"type": "problem", "problem": problem}] if problem is not None else []
        messages.append({"type": "board", "line": line_id})  # rows show reasons and problem status
        for message in messages:
            for listener in list(self.listeners):
                try:
                    listener(message)
                except Exception:
                    log.exception("a problem listener failed")

    # --- problems ---------------------------------------------------------------------
    def create(self, fields: dict[str, Any], by: str) -> dict[str, Any]:
        """Open a problem, linking the andon calls and board rows that caused it."""
        line = self._line(fields["line"])
        now = self.clock.now()
        self._known_code(line, fields.get("reason_code"))
        with self.store.transaction() as s:
            row = ProblemRow(
                title=fields["title"], line_id=line.id, category=fields.get("category") or "",
                reason_code=fields.get("reason_code"),
                description=fields.get("description") or "", owner=fields.get("owner") or "",
                due_date=_date_text(fields.get("due_date")), status="open", created_at=now, updated_at=now,
                created_by=by,
            )
            s.add(row)
            s.flush()
            self._link(s, row.id, line, fields.get("andon_call_ids") or [], fields.get("rows") or [])
            problem_id = row.id
        log.info("problem %d opened on %s by %s: %s", problem_id, line.id, by, fields["title"])
        problem = self.get(problem_id)
        self._announce(problem, line.id)
        return problem

    def update(self, problem_id: int, fields: dict[str, Any], by: str) -> dict[str, Any]:
        """Change a problem's fields or PDCA status, and add links."""
        with self.store.transaction() as s:
            row = s.get(ProblemRow, problem_id)
            if row is None:
                raise ProblemError(404, f"no problem {problem_id}")
            self._known_code(self._line(row.line_id), fields.get("reason_code"))
            for key in EDITABLE:
                if key in fields and fields[key] is not None:
                    value = fields[key]
                    setattr(row, key, _date_text(value) if key.endswith("date") else value)
            if fields.get("status") == "check" and row.countermeasure_date is None:
                row.countermeasure_date = self._today(row.line_id).isoformat()
            row.updated_at = self.clock.now()
            line = self._line(row.line_id)
            self._link(s, row.id, line, fields.get("andon_call_ids") or [], fields.get("rows") or [])
        log.info("problem %d updated by %s: %s", problem_id, by, sorted(k for k in fields if fields[k] is not None))
        problem = self.get(problem_id)
        self._announce(problem, problem["line"])
        return problem

    def get(self, problem_id: int) -> dict[str, Any]:
        """Return one problem with its links and its check figures."""
        with self.store.session() as s:
            row = s.get(ProblemRow, problem_id)
            if row is None:
                raise ProblemError(404, f"no problem {problem_id}")
            return self._dict(s, row, self._links(s, [row.id]).get(row.id, ([], [])))

    def find(
        self, line: str | None = None, status: str | None = None, owner: str | None = None
    ) -> list[dict[str, Any]]:
        """Return problems, newest first, filtered by line, status and owner."""
        stmt = select(ProblemRow).order_by(ProblemRow.id.desc())
        if line is not None:
            stmt = stmt.where(ProblemRow.line_id == line)
        if status is not None:
            stmt = stmt.where(ProblemRow.status == status)
        if owner is not None:
            stmt = stmt.where(ProblemRow.owner == owner)
        with self.store.session() as s:
            rows = list(s.execute(stmt).scalars())
            links = self._links(s, [r.id for r in rows])
            return [self._dict(s, r, links.get(r.id, ([], []))) for r in rows]

    # --- board rows -------------------------------------------------------------------
    def row_start(self, line: LineRuntime, start: float) -> float:
        """Check that ``start`` begins a board row of the line; return it."""
        line.row_shift(start)
        return start

    def set_reason(
        self, line_id: str, start: float, reason: str, by: str, problem_id: int | None = None,
        open_problem: dict[str, Any] | None = None,
    ) -> tuple[float, dict[str, Any] | None]:
        """Write a row's reason; link it to a problem, or open one from it, in the same step."""
        line = self._line(line_id)
        start = self.row_start(line, start)
        if problem_id is not None and open_problem is not None:
            raise ProblemError(422, "give problem_id or open_problem, not both")
        problem = None
        if open_problem is not None:
            fields = {"line": line_id, "description": reason, **open_problem}
            problem = self.create(fields, by)
            problem_id = problem["id"]
        elif problem_id is not None:
            problem = self.get(problem_id)
            if problem["line"] != line_id:
                raise ProblemError(422, f"problem {problem_id} belongs to line {problem['line']!r}")
        with self.store.transaction() as s:
            s.merge(RowReasonRow(
                line_id=line_id, row_start=start, reason=reason, problem_id=problem_id, written_by=by,
                written_at=self.clock.now(),
            ))
            if problem_id is not None:
                self._link(s, problem_id, line, [], [start])
        if problem_id is not None:
            problem = self.get(problem_id)
        log.info("reason for %s row %s by %s: %s", line_id, iso(start), by, reason)
        self._announce(problem, line_id)
        return start, problem

    def suggestions(self, line: str | None = None, min_rows: int = SUGGEST_MIN_ROWS) -> list[dict[str, Any]]:
        """Return reasons written on at least ``min_rows`` rows of a line within 7 days, not yet a problem."""
        since = self.clock.now() - SUGGEST_DAYS * 86400
        stmt = select(RowReasonRow).where(RowReasonRow.row_start >= since, RowReasonRow.problem_id.is_(None))
        if line is not None:
            stmt = stmt.where(RowReasonRow.line_id == line)
        groups: dict[tuple[str, str], list[float]] = defaultdict(list)
        with self.store.session() as s:
            for r in s.execute(stmt).scalars():
                groups[(r.line_id, _normal(r.reason))].append(r.row_start)
        out = [
            {"line": lid, "reason": reason, "rows": len(starts), "row_starts": [iso(x) for x in sorted(starts)]}
            for (lid, reason), starts in groups.items() if len(starts) >= min_rows
        ]
        return sorted(out, key=lambda x: (-x["rows"], x["line"], x["reason"]))

    def code_suggestions(self, line: str | None = None) -> list[dict[str, Any]]:
        """Return reason codes that recur (losses.propose_after_stops or _minutes in 7 days), not yet a problem."""
        now = self.clock.now()
        since = now - SUGGEST_DAYS * 86400
        lines = [self._line(line)] if line is not None else list(self.plant.lines.values())
        with self.store.session() as s:
            linked = {(r.line_id, r.reason_code) for r in s.execute(
                select(ProblemRow).where(ProblemRow.reason_code.is_not(None), ProblemRow.status != "closed")
            ).scalars()}
        out = []
        for runtime in lines:
            groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for record in stop_rows.stops_between(self.store, [runtime.id], since, now):
                if record.origin != "detected" or record.reason is None or (runtime.id, record.reason) in linked:
                    continue
                groups[record.reason].append(self.stops.describe(runtime, record, now))
            limits = runtime.config.losses
            for code, stops in groups.items():
                stops = [d for d in stops if not d["small"]]
                minutes = round(sum(d["seconds"] for d in stops) / 60, 2)
                if stops and (len(stops) >= limits.propose_after_stops or minutes >= limits.propose_after_minutes):
                    reason = runtime.reasons.get(code)
                    out.append({"line": runtime.id, "reason": reason.name if reason else code, "code": code,
                                "rows": 0, "row_starts": [], "stops": len(stops), "minutes": minutes,
                                "stop_ids": [d["id"] for d in stops]})
        return sorted(out, key=lambda x: (-x["minutes"], x["line"], x["code"]))

    # --- helpers ----------------------------------------------------------------------
    def _known_code(self, line: LineRuntime, code: str | None) -> None:
        if code is not None and code not in line.reasons:
            raise ProblemError(422, f"line {line.id!r} has no stop reason {code[:64]!r}")

    def _line(self, line_id: str) -> LineRuntime:
        line = self.plant.lines.get(line_id)
        if line is None:
            raise ProblemError(422, f"no line {line_id!r}")
        return line

    def _today(self, line_id: str) -> date:
        return self._line(line_id).calendar.local_date(self.clock.now())

    def _link(self, s: Session, problem_id: int, line: LineRuntime, calls: list[int], rows: list[float]) -> None:
        for call_id in calls:
            call = s.get(AndonCallRow, call_id)
            if call is None:
                raise ProblemError(422, f"no andon call {call_id}")
            exists = s.execute(select(ProblemLinkRow.id).where(
                ProblemLinkRow.problem_id == problem_id, ProblemLinkRow.andon_call_id == call_id)).first()
            if exists is None:
                s.add(ProblemLinkRow(problem_id=problem_id, andon_call_id=call_id))
        for start in rows:
            start = self.row_start(line, start)
            exists = s.execute(select(ProblemLinkRow.id).where(
                ProblemLinkRow.problem_id == problem_id, ProblemLinkRow.line_id == line.id,
                ProblemLinkRow.row_start == start)).first()
            if exists is None:
                s.add(ProblemLinkRow(problem_id=problem_id, line_id=line.id, row_start=start))

    @staticmethod
    def _links(s: Session, ids: list[int]) -> dict[int, tuple[list[int], list[dict[str, Any]]]]:
        out: dict[int, tuple[list[int], list[dict[str, Any]]]] = {}
        if not ids:
            return out
        stmt = select(ProblemLinkRow).where(ProblemLinkRow.problem_id.in_(ids)).order_by(ProblemLinkRow.id)
        for link in s.execute(stmt).scalars():
            calls, rows = out.setdefault(link.problem_id, ([], []))
            if link.andon_call_id is not None:
                calls.append(link.andon_call_id)
            if link.row_start is not None:
                rows.append({"line": link.line_id, "start": iso(link.row_start)})
        return out

    def _dict(self, s: Session, row: ProblemRow, links: tuple[list[int], list[dict[str, Any]]]) -> dict[str, Any]:
        today = self._today(row.line_id)
        overdue = row.due_date is not None and row.status != "closed" and date.fromisoformat(row.due_date) < today
        return {
            "id": row.id, "title": row.title, "line": row.line_id, "category": row.category,
            "description": row.description, "owner": row.owner, "due_date": row.due_date,
            "root_cause": row.root_cause, "countermeasure": row.countermeasure,
            "countermeasure_date": row.countermeasure_date, "status": row.status, "overdue": overdue,
            "created_at": iso(row.created_at), "updated_at": iso(row.updated_at), "created_by": row.created_by,
            "andon_call_ids": links[0], "rows": links[1], "check": self._check(s, row),
            "reason_code": row.reason_code, "stop_check": self._stop_check(row),
        }

    def _stop_check(self, row: ProblemRow) -> dict[str, Any] | None:
        """Show the linked reason code's stop minutes and occurrences per week, before and after the countermeasure."""
        if row.reason_code is None or row.countermeasure_date is None:
            return None
        line = self._line(row.line_id)
        pivot_day = date.fromisoformat(row.countermeasure_date)
        zone = line.calendar.zone
        pivot = datetime.combine(pivot_day, datetime.min.time(), tzinfo=zone).timestamp()
        now = self.clock.now()
        start = pivot - CHECK_WEEKS * 7 * 86400
        weeks: list[dict[str, Any]] = []
        records = [r for r in stop_rows.stops_between(self.store, [line.id], start, pivot + CHECK_WEEKS * 7 * 86400)
                   if r.reason == row.reason_code and r.origin == "detected"]
        described = [(r.start, self.stops.describe(line, r, now)) for r in records]
        for week in range(-CHECK_WEEKS, CHECK_WEEKS):
            w0 = datetime.combine(pivot_day.fromordinal(pivot_day.toordinal() + 7 * week), datetime.min.time(),
                                  tzinfo=zone).timestamp()
            w1 = datetime.combine(pivot_day.fromordinal(pivot_day.toordinal() + 7 * week + 7), datetime.min.time(),
                                  tzinfo=zone).timestamp()
            if w0 > now:
                break
            inside = [d for t, d in described if w0 <= t < w1]
            weeks.append({"from": pivot_day.fromordinal(pivot_day.toordinal() + 7 * week).isoformat(),
                          "after": week >= 0, "stops": len(inside),
                          "minutes": round(sum(d["seconds"] for d in inside) / 60, 2)})
        before = [w for w in weeks if not w["after"]]
        after = [w for w in weeks if w["after"]]
        return {
            "code": row.reason_code, "since": row.countermeasure_date, "weeks": weeks,
            "before": _week_sum(before), "after": _week_sum(after),
        }

    def _check(self, s: Session, row: ProblemRow) -> dict[str, Any] | None:
        """Count the rows carrying this problem's reason before and after its countermeasure date."""
        if row.countermeasure_date is None:
            return None
        reasons = s.execute(select(RowReasonRow.reason).where(RowReasonRow.problem_id == row.id)).scalars().all()
        if not reasons:
            return None
        reason = _normal(max(set(reasons), key=reasons.count))
        line = self._line(row.line_id)
        pivot_day = date.fromisoformat(row.countermeasure_date)
        pivot = datetime.combine(pivot_day, datetime.min.time(), tzinfo=line.calendar.zone).timestamp()
        window = 28 * 86400
        before = after = 0
        stmt = select(RowReasonRow.row_start, RowReasonRow.reason).where(
            RowReasonRow.line_id == row.line_id, RowReasonRow.row_start >= pivot - window,
            RowReasonRow.row_start < pivot + window,
        )
        for start, text in s.execute(stmt):
            if _normal(text) == reason:
                if start < pivot:
                    before += 1
                else:
                    after += 1
        return {"reason": reason, "before": before, "after": after, "since": row.countermeasure_date,
                "window_days": 28}


def _week_sum(weeks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"stops": sum(w["stops"] for w in weeks), "minutes": round(sum(w["minutes"] for w in weeks), 2)}


def _normal(reason: str) -> str:
    return " ".join(reason.lower().split())


def _date_text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value.isoformat()
    return date.fromisoformat(str(value)).isoformat()

