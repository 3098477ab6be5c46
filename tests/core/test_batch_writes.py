"""A batch's rows go in multi-row statements (64, 16, 4 and 1 rows): every row of every size lands once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from andon.storage.store import MultiRow, Store, open_database
from andon.storage.writer import PendingBatch, PendingEvent

QUARTER = 900.0
T0 = 1_800_000_000.0  # a quarter-hour boundary (divisible by 900)


def events(n: int, start: int, kind: str = "good") -> list[PendingEvent]:
    """``n`` events of line1, one second apart from ``start`` seconds after T0, ids e<k>."""
    return [
        PendingEvent("line1", "parts", T0 + k, T0 + k, 1 + k % 3, kind, f"e{k}", 0,
                     reason="jam" if kind == "scrap" else None)
        for k in range(start, start + n)
    ]


@pytest.mark.parametrize("size", [1, 3, 4, 5, 16, 21, 63, 64, 65, 85, 150, 1000])
def test_a_batch_of_any_size_stores_each_row_once_with_its_quarter_totals(tmp_path: Path, size: int) -> None:
    db = tmp_path / "andon.db"
    store = Store(open_database(f"sqlite:///{db}"))
    good, scrap = events(size, 0), events(7, 5000, kind="scrap")
    store.write(PendingBatch(events=good + scrap))
    store.engine.dispose()
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT event_id, ts, count, kind FROM count_events ORDER BY id").fetchall()
        quarters = conn.execute("SELECT quarter, good, scrap FROM count_quarters ORDER BY quarter").fetchall()
        scrap_rows = conn.execute("SELECT quarter, reason, parts FROM scrap_quarters ORDER BY quarter").fetchall()
    assert rows == [(e.event_id, e.ts, e.count, e.kind) for e in good + scrap]  # in order, once each
    expected: dict[int, list[int]] = {}
    for e in good + scrap:
        totals = expected.setdefault(int(e.ts // QUARTER), [0, 0])
        totals[0 if e.kind == "good" else 1] += e.count
    assert quarters == [(q, g, s) for q, (g, s) in sorted(expected.items())]
    assert scrap_rows == [(int((T0 + 5000) // QUARTER), "jam", sum(e.count for e in scrap))]


def test_the_statements_are_few_and_within_sqlites_oldest_limit_of_bound_values() -> None:
    statements = MultiRow("INSERT INTO t (a, b, c) VALUES {rows}", 3, "?")
    assert sorted(statements.sql) == [1, 4, 16, 64]
    assert statements.sql[4] == "INSERT INTO t (a, b, c) VALUES (?, ?, ?), (?, ?, ?), (?, ?, ?), (?, ?, ?)"
    assert max(n * 9 for n in statements.sql) <= 999  # the events' nine columns, 64 rows at most
