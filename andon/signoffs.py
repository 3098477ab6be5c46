"""Board sign-off: a supervisor confirms a finished hour-by-hour row, after its reason if it missed its plan.

The sign-off is the leader's routine made visible: each hour someone looked at the row, and a missed row was
explained before it was signed. A row is signed once; signing it again answers the first sign-off unchanged,
so the delay from the row's end to its sign-off stays the first one's. Summaries report how many finished rows
were signed and the median delay (``signoff_figures``).
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Iterable
from typing import Any

from andon.clock import Clock
from andon.errors import ServiceError
from andon.line import LineRuntime
from andon.plant import Plant
from andon.storage.store import Store
from andon.storage.tables import RowSignoffRow
from andon.takt import BoardRow
from andon.times import iso

log = logging.getLogger(__name__)


class SignoffService:
    """Record and read sign-offs of board rows."""

    def __init__(self, plant: Plant, store: Store, clock: Clock) -> None:
        self.plant = plant
        self.store = store
        self.clock = clock

    def sign(self, line_id: str, start: float, token_name: str, person: str | None = None) -> dict[str, Any]:
        """Sign off the row of a line starting at ``start``; return the sign-off (the first one, if signed before).

        422: not a row start; 409: the row is not over yet, or it missed its plan and has no reason yet.
        """
        line = self.plant.line(line_id)
        instance = line.row_shift(start)
        now = self.clock.now()
        _, rows, _ = line.rows(instance, now)
        row = next((r for r in rows if r.start == start), None)
        if row is None:  # row_shift checked the start; a row is cut at the shift's end, none starts there
            raise ServiceError(422, f"{iso(start)} is not the start of a board row of line {line.id!r}", "bad_row")
        if now < row.end:
            raise ServiceError(
                409, f"row {iso(row.start)} of line {line.id!r} ends at {iso(row.end)}: a row is signed off once it "
                "is over", "row_not_over",
            )
        if row.reason_required and row.start not in self.store.reasons(line.id, row.start, row.end):
            raise ServiceError(
                409, f"row {iso(row.start)} of line {line.id!r} missed its plan by {-(row.delta or 0)}: write its "
                "reason first (PUT /api/lines/{line}/board/reason)", "reason_first",
            )
        with self.store.transaction() as s:
            record = s.get(RowSignoffRow, (line.id, row.start))
            first = record is None
            if record is None:
                record = RowSignoffRow(
                    line_id=line.id, row_start=row.start, person=person or "", token_name=token_name, signed_at=now,
                )
                s.add(record)
            answer = signoff_view(line, row, record.person, record.token_name, record.signed_at)
        if first:
            log.info("row %s of line %s signed off by %s%s", iso(row.start), line.id, token_name,
                     f" ({person})" if person else "")
        return {**answer, "already": not first}


def signoff_view(line: LineRuntime, row: BoardRow, person: str, token_name: str, signed_at: float) -> dict[str, Any]:
    """Return a sign-off as the API shows it."""
    return {
        "line": line.id, "start": iso(row.start), "end": iso(row.end), "signed_off_at": iso(signed_at),
        "signed_off_by": token_name, "signed_off_person": person or None,
        "delay_seconds": round(max(0.0, signed_at - row.end), 3),
    }


def signoff_figures(rows: Iterable[BoardRow], signoffs: dict[float, tuple[str, str, float]], now: float) -> tuple[
    int, list[float]
]:
    """Return how many rows are over and need a sign-off (rows with available time), and the delays of those signed.

    A row with no available time (a whole break, not-scheduled time) has nothing to sign.
    """
    finished = 0
    delays = []
    for row in rows:
        if row.end > now or row.condition == "off":
            continue
        finished += 1
        signed = signoffs.get(row.start)
        if signed is not None:
            delays.append(max(0.0, signed[2] - row.end))
    return finished, delays


def signoff_summary(finished: int, delays: list[float]) -> dict[str, Any]:
    """Return a period's sign-off rate and median delay (null without finished rows or sign-offs)."""
    return {
        "rows": finished, "signed": len(delays),
        "rate": round(len(delays) / finished, 4) if finished else None,
        "median_delay_seconds": round(statistics.median(delays), 1) if delays else None,
    }
