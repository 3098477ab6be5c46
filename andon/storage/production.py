"""Stored runs, not-scheduled periods and work orders: the queries, and the writes made in a caller's transaction."""

from __future__ import annotations

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from andon.runs import NotScheduled, Run, WorkOrder
from andon.storage.store import Store
from andon.storage.tables import CountEventRow, NotScheduledRow, ProductRunRow, WorkOrderRow


def _run(row: ProductRunRow) -> Run:
    return Run(
        id=row.id, product=row.product_id, start=row.start, end=row.end, work_order=row.work_order_id,
        changeover_seconds=row.changeover_seconds, previous=row.previous_product, source=row.source,
        set_by=row.set_by,
    )


def _period(row: NotScheduledRow) -> NotScheduled:
    return NotScheduled(row.id, row.start, row.end, row.reason, bool(row.until_first_count), row.set_by)


def _order(row: WorkOrderRow) -> WorkOrder:
    return WorkOrder(
        id=row.id, line=row.line_id, product=row.product_id, quantity=row.quantity, due=row.due, state=row.state,
        created_at=row.created_at, created_by=row.created_by, started_at=row.started_at,
        completed_at=row.completed_at,
    )


def load_runs(store: Store, line_id: str) -> list[Run]:
    """Return every run of a line, oldest first."""
    with store.session() as s:
        rows = s.execute(
            select(ProductRunRow).where(ProductRunRow.line_id == line_id).order_by(ProductRunRow.start,
                                                                                    ProductRunRow.id)
        ).scalars()
        return [_run(r) for r in rows]


def load_not_scheduled(store: Store, line_id: str) -> list[NotScheduled]:
    """Return every not-scheduled period of a line, oldest first."""
    with store.session() as s:
        rows = s.execute(
            select(NotScheduledRow).where(NotScheduledRow.line_id == line_id).order_by(NotScheduledRow.start)
        ).scalars()
        return [_period(r) for r in rows]


def first_good_count(store: Store, line_id: str, start: float, end: float | None) -> float | None:
    """Return the event time of the first good part counted in [start, end) (end None: open)."""
    stmt = select(func.min(CountEventRow.ts)).where(
        CountEventRow.line_id == line_id, CountEventRow.kind == "good", CountEventRow.count > 0,
        CountEventRow.ts >= start,
    )
    if end is not None:
        stmt = stmt.where(CountEventRow.ts < end)
    with store.engine.connect() as conn:
        value = conn.execute(stmt).scalar()
    return None if value is None else float(value)


def first_count(store: Store, line_id: str) -> float | None:
    """Return the event time of the line's first stored count (None: it never counted).

    Shifts over before it have no data (the system was not watching): summaries and loss reports leave them out.
    """
    with store.engine.connect() as conn:
        first = conn.execute(select(func.min(CountEventRow.ts)).where(CountEventRow.line_id == line_id)).scalar()
    return None if first is None else float(first)


def first_data_at(store: Store, line_id: str) -> float | None:
    """Return when the line first had data: its first counted event or its first run (None: never)."""
    with store.engine.connect() as conn:
        count = conn.execute(
            select(func.min(CountEventRow.ts)).where(CountEventRow.line_id == line_id, CountEventRow.count > 0)
        ).scalar()
        run = conn.execute(select(func.min(ProductRunRow.start)).where(ProductRunRow.line_id == line_id)).scalar()
    found = [float(v) for v in (count, run) if v is not None]
    return min(found) if found else None


def has_any_data(store: Store, line_id: str) -> bool:
    """Tell whether anything was ever stored for a line: a count event, a run or a schedule entry."""
    with store.engine.connect() as conn:
        for table in (CountEventRow, ProductRunRow, NotScheduledRow):
            if conn.execute(select(table.id).where(table.line_id == line_id).limit(1)).first() is not None:
                return True
    return False


def made_between(store: Store, line_id: str, spans: list[tuple[float, float | None]]) -> int:
    """Return the good parts counted in the given spans of a line."""
    if not spans:
        return 0
    clauses = [
        (CountEventRow.ts >= a) & (CountEventRow.ts < b) if b is not None else (CountEventRow.ts >= a)
        for a, b in spans
    ]
    stmt = select(func.coalesce(func.sum(CountEventRow.count), 0)).where(
        CountEventRow.line_id == line_id, CountEventRow.kind == "good", or_(*clauses)
    )
    with store.engine.connect() as conn:
        return int(conn.execute(stmt).scalar() or 0)


# --- writes, inside the caller's Store.transaction() ---------------------------------------------------------


def open_run(s: Session, line_id: str, run: Run, closing: int | None, set_at: float) -> int:
    """Close the run ``closing`` at the new run's start and store the new run; return its id."""
    if closing is not None:
        s.execute(update(ProductRunRow).where(ProductRunRow.id == closing).values(end=run.start))
    row = ProductRunRow(
        line_id=line_id, product_id=run.product, start=run.start, end=None, work_order_id=run.work_order,
        changeover_seconds=run.changeover_seconds, previous_product=run.previous, source=run.source[:32],
        set_by=run.set_by[:128], set_at=set_at,
    )
    s.add(row)
    s.flush()
    return int(row.id)


def replace_not_scheduled(s: Session, line_id: str, periods: list[NotScheduled], set_at: float) -> list[NotScheduled]:
    """Replace a line's not-scheduled periods with ``periods``; return them with their stored ids."""
    s.execute(delete(NotScheduledRow).where(NotScheduledRow.line_id == line_id))
    rows = [
        NotScheduledRow(line_id=line_id, start=p.start, end=p.end, reason=p.reason[:500],
                        until_first_count=p.until_first_count, set_by=p.set_by[:128], set_at=set_at)
        for p in periods
    ]
    s.add_all(rows)
    s.flush()
    return [_period(r) for r in rows]


def add_order(s: Session, order: WorkOrder) -> None:
    """Store a new work order."""
    s.add(WorkOrderRow(
        id=order.id, line_id=order.line, product_id=order.product, quantity=order.quantity, due=order.due,
        state=order.state, created_at=order.created_at, created_by=order.created_by[:128],
        started_at=order.started_at, completed_at=order.completed_at,
    ))
    s.flush()


def set_order_state(s: Session, order_id: str, state: str, at: float) -> None:
    """Move a work order to ``state`` (noting when it first started, or completed)."""
    row = s.get(WorkOrderRow, order_id)
    if row is None:
        return
    row.state = state
    if state == "started" and row.started_at is None:
        row.started_at = at
    if state == "completed":
        row.completed_at = at


def get_order(store: Store, order_id: str) -> WorkOrder | None:
    """Return one work order."""
    with store.session() as s:
        row = s.get(WorkOrderRow, order_id)
        return None if row is None else _order(row)


def existing_orders(store: Store, ids: list[str]) -> set[str]:
    """Return which of ``ids`` are stored work orders."""
    if not ids:
        return set()
    with store.session() as s:
        return set(s.execute(select(WorkOrderRow.id).where(WorkOrderRow.id.in_(ids))).scalars())


def list_orders(
    store: Store, line_id: str | None = None, state: str | None = None, limit: int = 500
) -> list[WorkOrder]:
    """Return work orders, the open ones first, then by creation."""
    stmt = select(WorkOrderRow)
    if line_id is not None:
        stmt = stmt.where(WorkOrderRow.line_id == line_id)
    if state is not None:
        stmt = stmt.where(WorkOrderRow.state == state)
    stmt = stmt.order_by((WorkOrderRow.state == "completed"), WorkOrderRow.created_at, WorkOrderRow.id).limit(limit)
    with store.session() as s:
        return [_order(r) for r in s.execute(stmt).scalars()]
