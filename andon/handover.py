"""Shift handover: what the outgoing leader passes on and the incoming one acknowledges.

A handover is one line's shift seen as a whole: its results (the board's figures to its end, or to now while it
runs), its top losses (unplanned stop time by reason), the andon calls still open, the line's open and overdue
problems, and the notes leaders left on it; the incoming leader acknowledges it once.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from andon.andons import AndonService
from andon.board import board_dict
from andon.calendar import ShiftInstance
from andon.clock import Clock
from andon.errors import ServiceError
from andon.line import LineRuntime
from andon.plant import Plant
from andon.problems import ProblemService
from andon.stops import StopService
from andon.storage.store import Store
from andon.storage.tables import HandoverAckRow, HandoverNoteRow
from andon.times import iso

log = logging.getLogger(__name__)

TOP_LOSSES = 5


class HandoverService:
    """Build a shift's handover; keep its notes and its acknowledgement."""

    def __init__(
        self, plant: Plant, store: Store, clock: Clock, andons: AndonService, problems: ProblemService,
        stops: StopService,
    ) -> None:
        self.plant = plant
        self.store = store
        self.clock = clock
        self.andons = andons
        self.problems = problems
        self.stops = stops

    def report(self, line: LineRuntime, instance: ShiftInstance) -> dict[str, Any]:
        """Return the handover of one shift of a line, as seen now."""
        now = self.clock.now()
        board = board_dict(line, instance, now, self.stops)
        started = [r for r in board["rows"] if r["condition"] != "pending"]
        last = started[-1] if started else None
        planned = last["cum_planned_so_far"] if last is not None else 0
        actual = (last["cum_actual"] or 0) if last is not None else 0
        finished = [r for r in started if not r["current"]]
        problems = [p for p in self.problems.find(line=line.id) if p["status"] != "closed"]
        return {
            "line": line.id, "name": line.config.display_name, "date": instance.date.isoformat(),
            "shift": instance.shift_id, "start": iso(instance.start), "end": iso(instance.end), "at": iso(now),
            "over": now >= instance.end,
            "results": {
                "shift_target": board["shift_target"], "planned": planned, "actual": actual, "delta": actual - planned,
                "scrap": sum(r["scrap"] or 0 for r in started),
                "attainment": round(actual / planned, 4) if planned else None,
                "rows_finished": len(finished),
                "rows_missed": sum(1 for r in finished if r["reason_required"]),
                "rows_missed_without_reason": sum(1 for r in finished if r["reason_required"] and r["reason"] is None),
                "rows_signed_off": sum(1 for r in finished if r["signed_off_at"] is not None),
                "oee": board["totals"]["oee"]["oee"],
            },
            "top_losses": top_losses(board["stops"]),
            "open_andons": self.andons.find(line=line.id, state="open"),
            "problems": {
                "open": [_problem_brief(p) for p in problems],
                "overdue": [_problem_brief(p) for p in problems if p["overdue"]],
            },
            "notes": self.notes(line, instance),
            "acknowledgement": self.acknowledgement(line, instance),
        }

    def notes(self, line: LineRuntime, instance: ShiftInstance) -> list[dict[str, Any]]:
        """Return the notes left on a shift, oldest first."""
        with self.store.session() as s:
            rows = s.query(HandoverNoteRow).filter_by(
                line_id=line.id, shift_date=instance.date.isoformat(), shift_id=instance.shift_id,
            ).order_by(HandoverNoteRow.id).all()
            return [_note(r) for r in rows]

    def acknowledgement(self, line: LineRuntime, instance: ShiftInstance) -> dict[str, Any] | None:
        """Return the shift's acknowledgement, if the incoming leader gave it."""
        with self.store.session() as s:
            row = s.get(HandoverAckRow, (line.id, instance.date.isoformat(), instance.shift_id))
            return _ack(row) if row is not None else None

    def add_note(
        self, line: LineRuntime, instance: ShiftInstance, text: str, token_name: str, person: str | None = None,
    ) -> dict[str, Any]:
        """Leave a note on a shift that has started (409 for one to come)."""
        now = self.clock.now()
        _started(line, instance, now, "a note is left on a shift that has started")
        with self.store.transaction() as s:
            row = HandoverNoteRow(
                line_id=line.id, shift_date=instance.date.isoformat(), shift_id=instance.shift_id, text=text,
                person=person or "", token_name=token_name, written_at=now,
            )
            s.add(row)
            s.flush()
            note = _note(row)
        log.info("handover note on line %s shift %s %s by %s", line.id, instance.date, instance.shift_id, token_name)
        return note

    def acknowledge(
        self, line: LineRuntime, instance: ShiftInstance, token_name: str, person: str | None = None,
    ) -> dict[str, Any]:
        """Acknowledge a shift's handover once (again: the first acknowledgement, ``already`` true)."""
        now = self.clock.now()
        _started(line, instance, now, "a handover is acknowledged once its shift has started")
        key = (line.id, instance.date.isoformat(), instance.shift_id)
        with self.store.transaction() as s:
            row = s.get(HandoverAckRow, key)
            first = row is None
            if row is None:
                row = HandoverAckRow(
                    line_id=line.id, shift_date=key[1], shift_id=key[2], person=person or "", token_name=token_name,
                    acknowledged_at=now,
                )
                s.add(row)
            ack = _ack(row)
        if first:
            log.info("handover of line %s shift %s %s acknowledged by %s", line.id, key[1], key[2], token_name)
        return {**ack, "line": line.id, "date": key[1], "shift": key[2], "already": not first}

    def previous_shift(self, line: LineRuntime) -> ShiftInstance | None:
        """Return the latest shift of a line that is over: the one an incoming leader takes over from."""
        now = self.clock.now()
        candidate = line.calendar.latest_started(now)
        while candidate is not None and candidate.end > now:
            candidate = line.calendar.latest_started(candidate.start - 1e-3)
        return candidate


def top_losses(stops: list[dict[str, Any]], limit: int = TOP_LOSSES) -> list[dict[str, Any]]:
    """Rank a shift's unplanned stops (small ones included) by available seconds, per reason; unexplained: null."""
    seconds: dict[str | None, float] = defaultdict(float)
    count: dict[str | None, int] = defaultdict(int)
    names: dict[str | None, tuple[str | None, str | None]] = {}
    for stop in stops:
        if stop["planned"]:
            continue
        reason = stop["reason"]
        seconds[reason] += stop["seconds"]
        count[reason] += 1
        names[reason] = (stop["reason_name"], stop["category"])
    ranked = sorted(seconds, key=lambda r: (-seconds[r], r or ""))
    return [
        {"reason": r, "reason_name": names[r][0], "category": names[r][1], "stops": count[r],
         "minutes": round(seconds[r] / 60, 2)}
        for r in ranked[:limit]
    ]


def _started(line: LineRuntime, instance: ShiftInstance, now: float, rule: str) -> None:
    if now < instance.start:
        raise ServiceError(
            409, f"shift {instance.shift_id} on {instance.date} of line {line.id!r} starts at {iso(instance.start)}: "
            f"{rule}", "shift_not_started",
        )


def _problem_brief(problem: dict[str, Any]) -> dict[str, Any]:
    return {k: problem[k] for k in ("id", "title", "status", "owner", "due_date", "overdue")}


def _note(row: HandoverNoteRow) -> dict[str, Any]:
    return {"id": row.id, "text": row.text, "by": row.token_name, "person": row.person or None,
            "at": iso(row.written_at)}


def _ack(row: HandoverAckRow) -> dict[str, Any]:
    return {"by": row.token_name, "person": row.person or None, "at": iso(row.acknowledged_at)}
