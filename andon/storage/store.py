"""The store: opening the database, batched writes of count events, and the board queries."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Integer, case, create_engine, event, func, insert, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from andon.storage import migrate
from andon.storage.tables import (
    QUARTER_SECONDS,
    CounterIncidentRow,
    CounterStateRow,
    CountEventRow,
    PlannedDowntimeRow,
    RowReasonRow,
    RowSignoffRow,
    ShiftOverrideRow,
    StorageProbeRow,
)
from andon.storage.writer import EventWriter, PendingBatch, PendingEvent

__all__ = ["EventWriter", "PendingEvent", "Store", "open_database"]

log = logging.getLogger(__name__)


def open_database(url: str, *, upgrade: bool = True, in_child: bool = False) -> Engine:
    """Create the engine (SQLite in WAL mode by default) and bring the schema to head (Alembic only if not there).

    ``in_child``: migrate in a child process, so this one never imports Alembic (``andon run``); a failure
    there raises ``migrate.MigrationError`` with its last line.
    """
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("sqlite"):
        # Enough pooled connections for the API's worker threads, so none is opened per request.
        # The connection used last is taken first (LIFO): SQLite drops a connection's page cache whenever
        # another connection wrote since it last read, so the writer kept re-reading pages it had just
        # written when the pool handed its connections round in turn.
        engine = create_engine(url, pool_size=20, max_overflow=20, pool_use_lifo=True)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    if upgrade and not migrate.at_head(engine):
        if in_child:
            log.info("bringing the database to revision %s (in a child process)", migrate.HEAD)
            try:
                migrate.upgrade_in_child(url)
            except migrate.MigrationError:
                engine.dispose()
                raise
        else:
            migrate.upgrade(engine)
    return engine


class MultiRow:
    """An INSERT of many rows in few statements, straight to the driver (no SQL compiled per batch).

    The rows of a batch go in statements of 64, 16, 4 and 1 rows (a batch of 25 is three statements), so
    the driver's statement cache holds four prepared statements, and no statement comes near a database's
    limit of bound values (999 in older SQLite).
    """

    sizes = (64, 16, 4, 1)

    def __init__(self, template: str, columns: int, mark: str) -> None:
        row = "(" + ", ".join([mark] * columns) + ")"
        self.sql = {n: template.format(rows=", ".join([row] * n)) for n in self.sizes}

    def run(self, conn: Any, rows: list[tuple[Any, ...]]) -> None:
        """Insert ``rows`` in order."""
        at, total = 0, len(rows)
        for size in self.sizes:
            while total - at >= size:
                conn.exec_driver_sql(self.sql[size], tuple(v for r in rows[at:at + size] for v in r))
                at += size


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets board reads run while the writer commits; NORMAL sync is durable across a
    # process crash and loses at most the last commit on power loss, the usual trade-off for WAL.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class Store:
    """Reads and writes of the count tables, on one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self.write_lock = threading.RLock()
        self.path = _sqlite_file(engine)
        self._inode = _inode(self.path)
        mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        # SQLite: a statement that writes many rows and may stop half-way keeps a statement journal, to undo
        # just itself, and one past 64 KiB is a temp file written page by page. OR FAIL stops it where it is
        # instead, and needs none: the batch's transaction is rolled back whole on any error anyway.
        insert = "INSERT OR FAIL INTO" if engine.dialect.name == "sqlite" else "INSERT INTO"
        # Rows go in with multi-row VALUES statements (a few a batch): sqlite3 lets the GIL go and takes it
        # back for every statement it steps, and an executemany steps one per row, so a batch's rows each
        # waited for the event loop's thread to hand the GIL back (and paid two context switches for it).
        self._insert_events = MultiRow(
            f"{insert} count_events (line_id, source_id, ts, received_at, count, kind, event_id, flags, reason) "
            "VALUES {rows} ON CONFLICT DO NOTHING", 9, mark,
        )
        self._add_counts = MultiRow(
            f"{insert} count_quarters (line_id, quarter, good, scrap) VALUES {{rows}} "
            "ON CONFLICT (line_id, quarter) DO UPDATE SET good = count_quarters.good + excluded.good, "
            "scrap = count_quarters.scrap + excluded.scrap", 4, mark,
        )
        self._add_scrap = MultiRow(
            f"{insert} scrap_quarters (line_id, quarter, reason, parts) VALUES {{rows}} "
            "ON CONFLICT (line_id, quarter, reason) DO UPDATE SET parts = scrap_quarters.parts + excluded.parts",
            4, mark,
        )

    def probe(self) -> None:
        """Make a tiny write; raise when storage cannot write (read-only, full, gone, unreachable)."""
        if self.path is not None and _inode(self.path) != self._inode:
            raise OSError(f"database file {self.path} was removed or replaced; restart the server")
        dialect_insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        stmt = dialect_insert(StorageProbeRow).values(id=1, at=time.time())
        with self.write_lock, self.engine.begin() as conn:
            conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_={"at": stmt.excluded.at}))

    def session(self) -> Session:
        """Open a new ORM session (for reads; write through ``transaction``)."""
        return self.sessions()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """Open a session in a transaction that commits on success, one writer at a time.

        SQLite allows one writer; letting threads contend inside SQLite means its busy handler
        sleeps up to 100 ms between tries, so writers queue on a Python lock instead.
        """
        with self.write_lock, self.sessions() as s, s.begin():
            yield s

    def write(self, batch: PendingBatch) -> None:
        """Write one batch in one transaction (events, counter values, incidents)."""
        dialect_insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        with self.write_lock, self.engine.begin() as conn:
            if batch.events:
                # A few prepared multi-row statements, straight to the driver: no SQL compiled per batch.
                # The in-memory id check comes first; the unique index guards older ids.
                self._insert_events.run(conn, [
                    (e.line_id, e.source_id, e.ts, e.received_at, e.count, e.kind, e.event_id, e.flags, e.reason)
                    for e in batch.events
                ])
                self._add_quarters(conn, batch.events)
            if batch.counters:
                rows = [
                    {"line_id": c.line_id, "source_id": c.source_id, "value": c.value, "pending": c.pending,
                     "updated_at": c.updated_at}
                    for c in batch.counters.values()
                ]
                stmt = dialect_insert(CounterStateRow).values(rows)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["line_id", "source_id"],
                    set_={"value": stmt.excluded.value, "pending": stmt.excluded.pending,
                          "updated_at": stmt.excluded.updated_at},
                )
                conn.execute(stmt)
            if batch.incidents:
                conn.execute(insert(CounterIncidentRow), [
                    {"line_id": i.line_id, "source_id": i.source_id, "ts": i.ts, "kind": i.kind,
                     "old_value": i.old_value, "new_value": i.new_value, "note": i.note}
                    for i in batch.incidents
                ])

    def _add_quarters(self, conn: Any, events: list[PendingEvent]) -> None:
        """Add the batch's parts to the per-quarter-hour totals, in the same transaction as the events."""
        totals: dict[tuple[str, int], list[int]] = {}
        scrap: dict[tuple[str, int, str], int] = {}
        for e in events:
            quarter = int(e.ts // QUARTER_SECONDS)
            row = totals.get((e.line_id, quarter))
            if row is None:
                row = totals[(e.line_id, quarter)] = [0, 0]
            if e.kind == "good":
                row[0] += e.count
            else:
                row[1] += e.count
                key = (e.line_id, quarter, e.reason or "")
                scrap[key] = scrap.get(key, 0) + e.count
        # One row per (line, quarter) and (line, quarter, reason): no statement updates a row twice.
        self._add_counts.run(conn, [(line, q, g, sc) for (line, q), (g, sc) in totals.items()])
        if scrap:
            self._add_scrap.run(conn, [(line, q, r, n) for (line, q, r), n in scrap.items()])

    def counter_states(self) -> dict[tuple[str, str], tuple[int | None, int | None]]:
        """Return every persisted counter value and pending jump, by (line, source)."""
        with self.session() as s:
            rows = s.execute(select(CounterStateRow)).scalars()
            return {(r.line_id, r.source_id): (r.value, r.pending) for r in rows}

    def event_ids_since(self, since: float) -> list[tuple[str, str]]:
        """Return (line, event id) of events received since ``since``, oldest first."""
        stmt = (
            select(CountEventRow.line_id, CountEventRow.event_id)
            .where(CountEventRow.received_at >= since, CountEventRow.event_id.is_not(None))
            .order_by(CountEventRow.id)
        )
        with self.engine.connect() as conn:
            return [(str(a), str(b)) for a, b in conn.execute(stmt)]

    def has_event_id(self, line_id: str, event_id: str) -> bool:
        """Tell whether an event with this id was stored for the line."""
        stmt = select(CountEventRow.id).where(
            CountEventRow.line_id == line_id, CountEventRow.event_id == event_id
        )
        with self.engine.connect() as conn:
            return conn.execute(stmt.limit(1)).first() is not None

    def tallies(
        self, line_id: str, start: float, end: float, interval_seconds: int
    ) -> dict[int, tuple[int, int, int]]:
        """Return (good, scrap, OR of event flags) per row index for events in [start, end)."""
        offset = (CountEventRow.ts - start) / interval_seconds
        # ts >= start, so truncation is floor; SQLite's CAST is cheaper than its floor().
        whole = sql_cast(offset, Integer) if self.engine.dialect.name == "sqlite" else func.floor(offset)
        bucket = whole.label("bucket")
        good = func.sum(case((CountEventRow.kind == "good", CountEventRow.count), else_=0))
        scrap = func.sum(case((CountEventRow.kind == "scrap", CountEventRow.count), else_=0))
        # Grouping by flags too gives the OR of flags in one scan (SQL has no portable bitwise OR).
        stmt = (
            select(bucket, CountEventRow.flags, good, scrap)
            .where(CountEventRow.line_id == line_id, CountEventRow.ts >= start, CountEventRow.ts < end)
            .group_by(bucket, CountEventRow.flags)
        )
        out: dict[int, tuple[int, int, int]] = {}
        with self.engine.connect() as conn:
            for b, f, g, sc in conn.execute(stmt):
                g0, s0, f0 = out.get(int(b), (0, 0, 0))
                out[int(b)] = (g0 + int(g or 0), s0 + int(sc or 0), f0 | int(f))
        return out

    def last_count_at(self, line_id: str, before: float) -> float | None:
        """Return the event time of the line's last good count before ``before``."""
        stmt = select(func.max(CountEventRow.ts)).where(
            CountEventRow.line_id == line_id, CountEventRow.ts < before, CountEventRow.kind == "good",
            CountEventRow.count > 0,
        )
        with self.engine.connect() as conn:
            value = conn.execute(stmt).scalar()
        return float(value) if value is not None else None

    def overrides(self) -> dict[tuple[str, str, str], tuple[float | None, int | None]]:
        """Return every shift override by (line, date, shift)."""
        with self.session() as s:
            rows = s.execute(select(ShiftOverrideRow)).scalars()
            return {(r.line_id, r.date, r.shift_id): (r.takt_seconds, r.demand_per_shift) for r in rows}

    def set_override(
        self, line_id: str, date: str, shift_id: str, takt_seconds: float | None,
        demand_per_shift: int | None, set_by: str, at: float,
    ) -> None:
        """Store (or replace) a shift override."""
        with self.transaction() as s:
            s.merge(ShiftOverrideRow(
                line_id=line_id, date=date, shift_id=shift_id, takt_seconds=takt_seconds,
                demand_per_shift=demand_per_shift, set_by=set_by, set_at=at,
            ))

    def downtime(self, line_id: str, start: float, end: float) -> list[tuple[float, float]]:
        """Return planned downtime spans of a line overlapping [start, end)."""
        stmt = select(PlannedDowntimeRow.start, PlannedDowntimeRow.end).where(
            PlannedDowntimeRow.line_id == line_id, PlannedDowntimeRow.start < end,
            PlannedDowntimeRow.end > start,
        )
        with self.engine.connect() as conn:
            return [(float(a), float(b)) for a, b in conn.execute(stmt)]

    def reasons(self, line_id: str, start: float, end: float) -> dict[float, tuple[str, int | None, str]]:
        """Return (reason, problem id, who wrote it) of a line's rows starting in [start, end)."""
        stmt = select(
            RowReasonRow.row_start, RowReasonRow.reason, RowReasonRow.problem_id, RowReasonRow.written_by
        ).where(RowReasonRow.line_id == line_id, RowReasonRow.row_start >= start, RowReasonRow.row_start < end)
        with self.engine.connect() as conn:
            return {float(a): (str(b), c, str(d)) for a, b, c, d in conn.execute(stmt)}


    def signoffs(self, line_id: str, start: float, end: float) -> dict[float, tuple[str, str, float]]:
        """Return (person, token name, when) of the sign-offs of a line's rows starting in [start, end)."""
        stmt = select(
            RowSignoffRow.row_start, RowSignoffRow.person, RowSignoffRow.token_name, RowSignoffRow.signed_at
        ).where(RowSignoffRow.line_id == line_id, RowSignoffRow.row_start >= start, RowSignoffRow.row_start < end)
        with self.engine.connect() as conn:
            return {float(a): (str(b), str(c), float(d)) for a, b, c, d in conn.execute(stmt)}

def _sqlite_file(engine: Engine) -> str | None:
    """Return the file of a SQLite database (None for memory or other databases)."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    return os.path.abspath(database) if database and database != ":memory:" else None


def _inode(path: str | None) -> tuple[int, int] | None:
    """Return (device, inode) of a file, or None when it is not there."""
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)
