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
from andon.storage.store import Store
from andon.storage.tables import AndonCallRow, ProblemLinkRow, ProblemRow, RowReasonRow

log = logging.getLogger(__name__)

STATUSES = ("open", "plan", "do", "check", "act", "closed")
EDITABLE = ("title", "category", "description", "owner", "due_date", "root_cause", "countermeasure",
            "countermeasure_date", "status")
SUGGEST_MIN_ROWS = 3
SUGGEST_DAYS = 7


class ProblemError(ServiceError):
    """A request about problems that cannot be carried out."""


class ProblemService:
    """Create, update and list problems; write row reasons; suggest problems from recurring reasons."""

    def __init__(self, plant: Plant, store: Store, clock: Clock) -> None:
        self.plant = plant
        self.store = store
        self.clock = clock
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
        with self.store.transaction() as s:
            row = ProblemRow(
                title=fields["title"], line_id=line.id, category=fields.get("category") or "",
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
        instance = line.calendar.at(start)
        if instance is None or (start - instance.start) % line.interval_seconds != 0:
            raise ProblemError(422, f"{iso(start)} is not the start of a board row of line {line.id!r}")
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

    # --- helpers ----------------------------------------------------------------------
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


def _normal(reason: str) -> str:
    return " ".join(reason.lower().split())


def _date_text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value.isoformat()
    return date.fromisoformat(str(value)).isoformat()

