"""The same store on a real PostgreSQL server: migrations, intake, boards rebuilt after a restart."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import create_engine, text

from andon.board import board_dict
from andon.clock import ManualClock
from andon.config.loader import parse_config
from andon.plant import Plant
from andon.storage.store import Store, open_database
from tests.conftest import Postgres
from tests.core.engine_fixtures import utc
from tests.core.plant_fixtures import CONFIG


def fresh_database(postgres: Postgres) -> str:
    name = f"andon_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return postgres.url(name)


def test_plant_on_postgresql_rebuilds_boards_after_restart(postgres: Postgres) -> None:
    url = fresh_database(postgres)
    config = parse_config(CONFIG.format(db="unused").replace("sqlite:///unused", url))
    clock = ManualClock(utc("2026-11-25 06:00"))
    plant = Plant(config, Store(open_database(url)), clock)
    sink = plant.sink("line1", "counter")
    for i in range(120):
        clock.set(utc("2026-11-25 06:00") + i * 60 + 5)
        plant.post_count("line1", 1, event_id=f"e{i}", kind="scrap" if i % 10 == 0 else "good")
        sink.reading(1000 + 2 * i)  # cumulative: baseline then +2 a minute
    assert plant.post_count("line1", 1, event_id="e7").status == "duplicate"
    clock.set(utc("2026-11-25 08:30"))

    def numbers(p: Plant) -> list[tuple[int | None, int | None, int | None]]:
        line = p.line("line1")
        inst = line.calendar.instance("early", date(2026, 11, 25))
        assert inst is not None
        return [(r["actual"], r["scrap"], r["cum_delta"]) for r in board_dict(line, inst, clock.now())["rows"][:3]]

    before = numbers(plant)
    assert before == [(54 + 118, 6, 112), (54 + 120, 6, 226), (0, 0, 346 - 150)]  # current row: against plan(08:30)
    plant.close()
    plant.store.engine.dispose()
    again = Plant(config, Store(open_database(url)), clock)
    assert numbers(again) == before
    again.sink("line1", "counter").reading(1000 + 2 * 119 + 10)  # 10 made while down, credited
    assert again.line("line1").state().model_dump()["actual_to_date"] == 54 + 118 + 54 + 120 + 10
    again.close()
    again.store.engine.dispose()
