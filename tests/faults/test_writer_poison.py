"""No item can stop the event writer: each kind the database refuses is split out and refused with a
reason, every other item of its batch commits, and the board never shows a part the database lacks."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from andon.clock import ManualClock
from andon.storage.store import Store, open_database
from andon.storage.tables import CounterIncidentRow, CounterStateRow, CountEventRow
from andon.storage.writer import STORED, CounterUpdate, EventWriter, IncidentRecord, PendingEvent
from tests.conftest import Postgres
from tests.core.engine_fixtures import utc
from tests.core.plant_fixtures import make_config, make_plant

T0 = utc("2026-11-25 07:00")


def good(i: int) -> PendingEvent:
    """Return a storable count event of one part with id g<i>."""
    return PendingEvent("line1", "http", T0 + i, T0 + i, 1, "good", f"g{i}", 0)


# Each kind of item a database refuses, as the writer would receive it past every input check.
POISON: dict[str, Any] = {
    "lone surrogate in the event id": PendingEvent("line1", "http", T0, T0, 1, "good", "bad-\ud800", 0),
    "count beyond 64 bits": PendingEvent("line1", "http", T0, T0, 2**70, "good", "big", 0),
    "NaN event time": PendingEvent("line1", "http", float("nan"), T0, 1, "good", "nan", 0),
    "no kind": PendingEvent("line1", "http", T0, T0, 1, None, "nokind", 0),  # type: ignore[arg-type]
    "counter value beyond 64 bits": CounterUpdate("line1", "other", 2**64, None, T0),
    "surrogate in an incident note": IncidentRecord("line1", "counter", T0, "reset", 1, 0, "note \udfff"),
}


def stored(store: Store) -> tuple[int, int, int, int]:
    """Return (events, sum of counts, counter rows, incidents) in the database."""
    with store.engine.connect() as conn:
        events, parts = conn.execute(select(func.count(), func.coalesce(func.sum(CountEventRow.count), 0))).one()
        counters = conn.execute(select(func.count()).select_from(CounterStateRow)).scalar_one()
        incidents = conn.execute(select(func.count()).select_from(CounterIncidentRow)).scalar_one()
    return int(events), int(parts), int(counters), int(incidents)


def write_with_poison(store: Store, poison: Any, goods: int = 200) -> tuple[EventWriter, list[Any], list[str]]:
    """Queue ``goods`` good events with one poisoned item in the middle; wait until all settle."""
    writer = EventWriter(store, max_delay=0.05)
    refused: list[Any] = []
    writer.on_refused = lambda item, reason: refused.append((item, reason))
    acks: list[str] = []
    lock = threading.Lock()

    def ack(name: str) -> Any:
        def stored_() -> None:
            with lock:
                acks.append(name)
        return stored_

    for i in range(goods):
        if i == goods // 2:
            if isinstance(poison, PendingEvent):
                poison.on_stored = ack("poison")
            writer.put(poison)
        event = good(i)
        event.on_stored = ack(f"g{i}")
        writer.put(event)
    writer.put(CounterUpdate("line1", "counter", 41, None, T0))
    writer.flush(timeout=30)
    return writer, refused, acks


@pytest.mark.parametrize("kind", sorted(POISON))
def test_each_refused_item_is_split_out_and_the_rest_commits(tmp_path: Path, kind: str) -> None:
    store = Store(open_database(f"sqlite:///{tmp_path / 'w.db'}"))
    poison = POISON[kind]
    writer, refused, acks = write_with_poison(store, poison)
    try:
        events, parts, counters, incidents = stored(store)
        assert (events, parts) == (200, 200)  # every good event, once
        assert counters == 1 and incidents == 0  # the good counter value commits; a bad one does not
        assert [item for item, _ in refused] == [poison]
        assert writer.refused == 1 and writer.fault is None and writer.unwritten == 0
        if isinstance(poison, PendingEvent):
            assert poison.outcome is not None and poison.outcome != STORED
            assert "poison" in acks  # refused and acknowledged, so a broker does not redeliver it forever
        assert sorted(a for a in acks if a != "poison") == sorted(f"g{i}" for i in range(200))
        # The writer goes on: the next good event commits.
        later = good(999)
        writer.put(later)
        writer.flush()
        assert later.outcome == STORED and stored(store)[0] == 201
    finally:
        writer.close()
        store.engine.dispose()


def test_poison_on_postgresql(postgres: Postgres) -> None:
    """PostgreSQL refuses a NUL in text, which SQLite stores: the same split finds it there."""
    from sqlalchemy import create_engine, text

    admin = create_engine(postgres.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS poison"))
        conn.execute(text("CREATE DATABASE poison"))
    admin.dispose()
    store = Store(open_database(postgres.url("poison")))
    poison = PendingEvent("line1", "http", T0, T0, 1, "good", "nul\x00id", 0)
    writer, refused, _acks = write_with_poison(store, poison, goods=100)
    try:
        assert stored(store)[:2] == (100, 100)
        assert [item for item, _ in refused] == [poison]
        assert "NUL" in refused[0][1] or "0x00" in refused[0][1]
    finally:
        writer.close()
        store.engine.dispose()


def test_a_refused_count_leaves_the_board_and_the_metric_says_so(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    plant = make_plant(make_config(tmp_path), clock)
    try:
        # Past the intake's own checks (they refuse such ids up front), straight into the writer:
        # the board must not keep a part the database never got.
        line = plant.line("line1")
        poison = PendingEvent("line1", "http", T0, T0, 5, "good", "x\ud800", 0)
        line.add(poison.ts, poison.count, poison.kind, 0)
        plant.writer.put(poison)
        assert plant.post_count("line1", 3, event_id="ok-1").status == "accepted"
        plant.writer.flush()
        assert line.state().model_dump()["actual_to_date"] == 3
        assert stored(plant.store)[:2] == (1, 3)
        assert plant.metrics.unstorable.labels("line1")._value.get() == 1
    finally:
        plant.close()
        plant.store.engine.dispose()


def test_intake_refuses_ids_the_database_cannot_hold(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    plant = make_plant(make_config(tmp_path), clock)
    try:
        for bad in ("\ud800", "a\x00b", "x" * 129):
            result = plant.post_count("line1", 1, event_id=bad)
            assert (result.status, result.reason) == ("rejected", "bad_id")
        assert plant.post_count("line1", 1, event_id="fine").status == "accepted"
        assert plant.metrics.rejected.labels("line1", "bad_id")._value.get() == 3
        assert stored(plant.store)[:2] == (1, 1)
        assert plant.line("line1").state().model_dump()["actual_to_date"] == 1
    finally:
        plant.close()
        plant.store.engine.dispose()
