"""Queries and writes of the loss model: good-count times, run-signal changes, stops, splits, scrap by reason."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import and_, delete, func, or_, select, update

from andon.storage.store import Store
from andon.storage.tables import (
    QUARTER_SECONDS,
    CounterIncidentRow,
    CountEventRow,
    ScrapQuarterRow,
    StopRow,
    StopSplitRow,
)

RUN_ON, RUN_OFF = "run_on", "run_off"  # run-signal changes, kept with the counter incidents


@dataclass
class StopRecord:
    """A stored stop, as the stop service keeps it in memory."""

    id: int
    line_id: str
    start: float
    end: float | None
    origin: str = "detected"
    reason: str | None = None
    reason_by: str = ""
    reason_at: float | None = None
    note: str = ""


def _record(row: StopRow) -> StopRecord:
    return StopRecord(row.id, row.line_id, row.start, row.end, row.origin, row.reason, row.reason_by,
                      row.reason_at, row.note)


def good_count_times(store: Store, line_id: str, start: float, end: float) -> list[float]:
    """Return the event times of a line's good counts in [start, end), oldest first."""
    stmt = (
        select(CountEventRow.ts)
        .where(CountEventRow.line_id == line_id, CountEventRow.ts >= start, CountEventRow.ts < end,
               CountEventRow.kind == "good", CountEventRow.count > 0)
        .order_by(CountEventRow.ts)
    )
    with store.engine.connect() as conn:
        return [float(t) for (t,) in conn.execute(stmt)]


def signal_changes(store: Store, line_id: str, since: float) -> list[tuple[float, str, bool]]:
    """Return a line's run-signal changes from ``since`` on, with each signal's last change before it first."""
    kinds = (RUN_ON, RUN_OFF)
    before = (
        select(CounterIncidentRow.source_id, func.max(CounterIncidentRow.id))
        .where(CounterIncidentRow.line_id == line_id, CounterIncidentRow.kind.in_(kinds),
               CounterIncidentRow.ts < since)
        .group_by(CounterIncidentRow.source_id)
    )
    with store.engine.connect() as conn:
        ids = [int(i) for _, i in conn.execute(before)]
        stmt = (
            select(CounterIncidentRow.ts, CounterIncidentRow.source_id, CounterIncidentRow.kind)
            .where(CounterIncidentRow.line_id == line_id, CounterIncidentRow.kind.in_(kinds),
                   or_(CounterIncidentRow.ts >= since, CounterIncidentRow.id.in_(ids)))
            .order_by(CounterIncidentRow.ts, CounterIncidentRow.id)
        )
        return [(float(t), str(s), k == RUN_ON) for t, s, k in conn.execute(stmt)]


def stops_between(store: Store, line_ids: Iterable[str], start: float, end: float) -> list[StopRecord]:
    """Return the stored stops of lines that overlap [start, end), oldest first."""
    columns = StopRow.__table__.c
    stmt = (
        select(columns.id, columns.line_id, columns.start, columns.end, columns.origin, columns.reason,
               columns.reason_by, columns.reason_at, columns.note)
        .where(columns.line_id.in_(list(line_ids)), columns.start < end,
               or_(columns.end.is_(None), columns.end > start))
        .order_by(columns.start, columns.id)
    )
    with store.engine.connect() as conn:
        return [StopRecord(*row) for row in conn.execute(stmt).all()]


class StopSpan(NamedTuple):
    """What a loss report needs of a stored stop."""

    line_id: str
    start: float
    end: float | None
    origin: str
    reason: str | None


def stop_spans(store: Store, line_ids: Iterable[str], start: float, end: float) -> list[StopSpan]:
    """Return where the stored stops of lines that overlap [start, end) lie and why, oldest first.

    The light form of ``stops_between`` for reports over weeks of many lines (tens of thousands of stops).
    """
    columns = StopRow.__table__.c
    stmt = (
        select(columns.line_id, columns.start, columns.end, columns.origin, columns.reason)
        .where(columns.line_id.in_(list(line_ids)), columns.start < end,
               or_(columns.end.is_(None), columns.end > start))
        .order_by(columns.start, columns.id)
    )
    with store.engine.connect() as conn:
        return [StopSpan._make(row) for row in conn.execute(stmt).all()]


def stop_by_id(store: Store, stop_id: int) -> StopRecord | None:
    """Return one stored stop by id."""
    with store.session() as s:
        row = s.get(StopRow, stop_id)
        return _record(row) if row is not None else None


def open_stops(store: Store) -> list[StopRecord]:
    """Return every detected stop stored as still open."""
    stmt = select(StopRow).where(StopRow.end.is_(None), StopRow.origin == "detected").order_by(StopRow.start)
    with store.session() as s:
        return [_record(r) for r in s.execute(stmt).scalars()]


def planned_spans(store: Store, line_id: str, start: float, end: float) -> list[tuple[float, float]]:
    """Return the planned stops entered ahead for a line that overlap [start, end)."""
    stmt = select(StopRow.start, StopRow.end).where(
        StopRow.line_id == line_id, StopRow.origin == "planned", StopRow.start < end, StopRow.end > start,
    )
    with store.engine.connect() as conn:
        return [(float(a), float(b)) for a, b in conn.execute(stmt)]


def split_points(store: Store, line_id: str, start: float, end: float) -> list[float]:
    """Return the split times of a line's stops in [start, end)."""
    stmt = select(StopSplitRow.at).where(StopSplitRow.line_id == line_id, StopSplitRow.at >= start,
                                         StopSplitRow.at < end)
    with store.engine.connect() as conn:
        return sorted(float(a) for (a,) in conn.execute(stmt))


def apply_changes(
    store: Store, inserts: list[StopRecord], updates: list[StopRecord], deletes: list[int],
) -> list[StopRecord]:
    """Write a reconciliation in one transaction; return the inserted stops with their ids."""
    with store.transaction() as s:
        if deletes:
            s.execute(delete(StopRow).where(StopRow.id.in_(deletes)))
        for r in updates:
            s.execute(update(StopRow).where(StopRow.id == r.id).values(
                start=r.start, end=r.end, reason=r.reason, reason_by=r.reason_by, reason_at=r.reason_at, note=r.note,
            ))
        rows = [StopRow(line_id=r.line_id, start=r.start, end=r.end, origin=r.origin, reason=r.reason,
                        reason_by=r.reason_by, reason_at=r.reason_at, note=r.note) for r in inserts]
        s.add_all(rows)
        s.flush()
        return [_record(r) for r in rows]


def add_split(store: Store, line_id: str, at: float, by: str) -> None:
    """Store a split time."""
    with store.transaction() as s:
        s.add(StopSplitRow(line_id=line_id, at=at, created_by=by))


def scrap_by_reason(store: Store, line_ids: Iterable[str], start: float, end: float) -> dict[str | None, int]:
    """Return scrap parts by reason code (None: no reason) of lines in [start, end) (quarter-hour bounds)."""
    q = QUARTER_SECONDS
    stmt = (
        select(ScrapQuarterRow.reason, func.sum(ScrapQuarterRow.parts))
        .where(and_(ScrapQuarterRow.line_id.in_(list(line_ids)), ScrapQuarterRow.quarter >= int(start // q),
                    ScrapQuarterRow.quarter < int(-(-end // q))))
        .group_by(ScrapQuarterRow.reason)
    )
    with store.engine.connect() as conn:
        return {(r or None): int(n or 0) for r, n in conn.execute(stmt)}
