"""The plant service on a real SQLite database: intake, dedupe, restart, boards rebuilt exactly."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from andon.board import board_dict
from andon.clock import ManualClock
from andon.storage.tables import CounterIncidentRow, CountEventRow
from tests.core.engine_fixtures import utc
from tests.core.plant_fixtures import make_config, make_plant, reopen

DAY = date(2026, 11, 25)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(utc("2026-11-25 06:00"))


def board_numbers(plant, line_id="line1", now=None):  # type: ignore[no-untyped-def]
    line = plant.line(line_id)
    inst = line.calendar.instance("early", DAY)
    board = board_dict(line, inst, now if now is not None else plant.clock.now())
    return [(r["planned"], r["actual"], r["scrap"], r["cum_delta"], r["trust"]) for r in board["rows"]]


def test_counts_fill_rows_and_state(tmp_path: Path, clock: ManualClock) -> None:
    plant = make_plant(make_config(tmp_path), clock)
    for minute in range(0, 130, 2):  # 06:00 .. 08:08, a part every 2 minutes
        clock.set(utc("2026-11-25 06:00") + minute * 60 + 1)
        assert plant.post_count("line1", 1).status == "accepted"
    plant.post_count("line1", 2, kind="scrap")
    clock.set(utc("2026-11-25 08:10"))
    state = plant.line("line1").state().model_dump()
    assert (state["plan_to_date"], state["actual_to_date"], state["delta"], state["scrap_to_date"]) == (130, 65, -65, 2)
    assert (state["condition"], state["reason"]) == ("abnormal", "65 behind")
    assert state["current_interval"] == {
        "start": "2026-11-25T08:00:00+00:00",
        "end": "2026-11-25T09:00:00+00:00",
        "planned": 60,
        "planned_so_far": 10,  # 08:00 -> 08:10 at a one-minute takt
        "actual": 5,
        "delta": -5,
        "condition": "abnormal",  # more than abnormal_behind (3) short of the plan so far
    }
    # The current row's cumulative delta is the live delta: 65 made against plan(08:10) = 130.
    assert board_numbers(plant)[:3] == [(60, 30, 0, -30, []), (60, 30, 0, -60, []), (60, 5, 2, -65, [])]
    plant.close()


def test_restart_rebuilds_every_board_exactly(tmp_path: Path, clock: ManualClock) -> None:
    plant = make_plant(make_config(tmp_path), clock)
    for i in range(300):
        clock.set(utc("2026-11-25 06:00") + i * 90)
        plant.post_count("line1", 1 + i % 3, event_id=f"e{i}", kind="scrap" if i % 17 == 0 else "good")
    clock.set(utc("2026-11-25 13:30"))
    before = board_numbers(plant)
    state_before = plant.line("line1").state().model_dump()
    plant = reopen(plant, clock)
    assert board_numbers(plant) == before
    state_after = plant.line("line1").state().model_dump()
    assert {k: v for k, v in state_after.items() if k != "sources"} == {
        k: v for k, v in state_before.items() if k != "sources"
    }
    # Ids seen before the restart are still duplicates after it.
    assert plant.post_count("line1", 1, event_id="e5").status == "duplicate"
    plant.close()


def test_duplicate_ids_count_once(tmp_path: Path, clock: ManualClock) -> None:
    plant = make_plant(make_config(tmp_path), clock)
    results = [plant.post_count("line1", 3, event_id="same").status for _ in range(4)]
    assert results == ["accepted", "duplicate", "duplicate", "duplicate"]
    plant.writer.flush()
    with plant.store.session() as s:
        assert s.execute(select(CountEventRow.count)).scalars().all() == [3]
    assert plant.metrics.duplicates.labels("line1")._value.get() == 3
    plant.close()


def test_bad_readings_are_rejected_and_counted_not_stored(tmp_path: Path, clock: ManualClock) -> None:
    plant = make_plant(make_config(tmp_path), clock)
    outcomes = [
        plant.post_count("line1", "lots").reason,
        plant.post_count("line1", -2).reason,
        plant.post_count("line1", 1, ts=clock.now() + 3600).reason,
        plant.post_count("line1", 1, ts="not a time").reason,
        plant.intake("line1", "nope", 1).reason,
    ]
    assert outcomes == ["not_a_number", "negative", "future_time", "bad_time", "unknown_source"]
    assert plant.post_count("line1", 1).status == "accepted"
    assert plant.line("line1").state().model_dump()["actual_to_date"] == 1
    assert plant.metrics.rejected.labels("line1", "negative")._value.get() == 1
    plant.close()


def test_cumulative_counter_survives_restart_and_credits_parts_made_while_down(
    tmp_path: Path, clock: ManualClock
) -> None:
    plant = make_plant(make_config(tmp_path), clock)
    sink = plant.sink("line1", "counter")
    for value in (65500, 65510, 65535, 4):  # baseline, +10, +25, rollover +5
        clock.advance(30)
        sink.reading(value)
    assert plant.line("line1").state().model_dump()["actual_to_date"] == 40
    plant = reopen(plant, clock)
    clock.set(utc("2026-11-25 07:10"))
    plant.sink("line1", "counter").reading(20)  # 16 made while the collector was down
    state = plant.line("line1").state().model_dump()
    assert state["actual_to_date"] == 56
    rows = board_numbers(plant)
    assert rows[0][1] == 40 and rows[1][1] == 16
    assert rows[1][4] == ["credited_after_outage"]
    plant.sink("line1", "counter").reading(3)  # a reset: adds nothing, recorded, flagged
    plant.sink("line1", "counter").reading(5)
    assert plant.line("line1").state().model_dump()["actual_to_date"] == 58
    plant.writer.flush()
    with plant.store.session() as s:
        kinds = s.execute(select(CounterIncidentRow.kind).order_by(CounterIncidentRow.id)).scalars().all()
    assert kinds == ["baseline", "rollover", "credited", "reset"]
    assert board_numbers(plant)[1][4] == ["credited_after_outage", "counter_reset"]
    plant.close()


def test_events_carry_their_own_time_into_the_right_row(tmp_path: Path, clock: ManualClock) -> None:
    plant = make_plant(make_config(tmp_path), clock)
    clock.set(utc("2026-11-25 10:30"))
    plant.post_count("line1", 7, ts="2026-11-25T06:59:59+00:00")
    plant.post_count("line1", 5, ts=utc("2026-11-25 07:00"))
    plant.post_count("line1", 9, ts=utc("2026-11-25 05:59"))  # before the shift: stored, not on the board
    rows = board_numbers(plant)
    assert [r[1] for r in rows[:5]] == [7, 5, 0, 0, 0]
    plant.close()


def test_takt_override_for_one_shift(tmp_path: Path, clock: ManualClock) -> None:
    plant = make_plant(make_config(tmp_path), clock)
    plant.set_override("line1", "2026-11-25", "early", None, 261, "tester")
    clock.set(utc("2026-11-25 14:00") - 1)
    assert plant.line("line1").state().model_dump()["shift_target"] == 261
    assert plant.line("line1").state().model_dump()["takt_seconds"] == 100.0
    plant = reopen(plant, clock)
    assert plant.line("line1").state().model_dump()["shift_target"] == 261
    plant.close()


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl")
    plant = make_plant(make_config(path), ManualClock(0))
    plant.close()
    return path / "andon.db"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    events=st.lists(
        st.tuples(
            st.integers(0, 8 * 3600 - 1),
            st.integers(0, 20),
            st.sampled_from(["good", "scrap"]),
            st.one_of(st.none(), st.integers(0, 30).map(str)),
        ),
        max_size=80,
    )
)
def test_actual_equals_the_sum_of_accepted_events(
    template_db: Path, tmp_path_factory: pytest.TempPathFactory, events: list[tuple[int, int, str, str | None]]
) -> None:
    folder = tmp_path_factory.mktemp("prop")
    shutil.copy(template_db, folder / "andon.db")
    clock = ManualClock(utc("2026-11-25 14:00"))
    plant = make_plant(make_config(folder), clock)
    expected_good = expected_scrap = 0
    seen: set[str] = set()
    for offset, n, kind, eid in events:
        result = plant.post_count("line1", n, ts=utc("2026-11-25 06:00") + offset, event_id=eid, kind=kind)
        if eid is not None and eid in seen:
            assert result.status == "duplicate"
            continue
        assert result.status == "accepted"
        if eid is not None:
            seen.add(eid)
        if kind == "good":
            expected_good += n
        else:
            expected_scrap += n
    rows = board_numbers(plant, now=utc("2026-11-25 14:00"))
    assert sum(r[1] for r in rows) == expected_good
    assert sum(r[2] for r in rows) == expected_scrap
    plant = reopen(plant, clock)
    assert board_numbers(plant, now=utc("2026-11-25 14:00")) == rows
    plant.close()


def test_trust_marks_name_gaps_manual_and_buffered_counts(tmp_path: Path, clock: ManualClock) -> None:
    plant = make_plant(make_config(tmp_path), clock)
    sink = plant.sink("line1", "counter")
    clock.set(utc("2026-11-25 06:30"))
    sink.offline("PLC 10.0.0.5:502 unreachable")
    clock.set(utc("2026-11-25 07:10"))
    sink.online()
    clock.set(utc("2026-11-25 10:00"))
    plant.post_count("line1", 2, ts=utc("2026-11-25 08:05"), manual=True)
    plant.post_count("line1", 1, ts=utc("2026-11-25 09:20"), buffered=True)
    clock.set(utc("2026-11-25 10:30"))
    sink.offline("PLC 10.0.0.5:502 unreachable")  # still down: marks up to now
    clock.set(utc("2026-11-25 11:25"))
    plant.writer.flush()
    marks = [r[4] for r in board_numbers(plant)]
    assert marks == [["gap"], ["gap"], ["manual"], ["buffered"], ["gap"], ["gap"], [], []]
    state = plant.line("line1").state().model_dump()
    assert (state["condition"], state["reason"]) == ("stale", "PLC 10.0.0.5:502 unreachable")
    plant.close()
