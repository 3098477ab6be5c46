"""Products on a real plant (SQLite file, manual clock): runs stored and replayed, the plan following them,
changeover overruns, not-scheduled time, work orders, and a restart that rebuilds all of it exactly."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import pytest
from sqlalchemy import update

from andon.board import board_dict
from andon.clock import ManualClock
from andon.config.loader import parse_config
from andon.config.schema import Config
from andon.errors import ServiceError
from andon.plant import Plant
from andon.services import Services, services_for
from andon.storage.tables import StopRow
from tests.core.engine_fixtures import utc
from tests.core.plant_fixtures import make_plant, reopen

H = 3600
CONFIG = """
plant: {{name: Products, timezone: UTC}}
database: sqlite:///{db}
shifts:
  - {{id: early, start: "06:00", end: "14:00", breaks: [{{start: "09:00", end: "09:15"}}]}}
products:
  - {{id: A, name: Axle, takt_seconds: 60, ideal_cycle_seconds: 50}}
  - {{id: B, name: Bracket, takt_seconds: 45, ideal_cycle_seconds: 40, parts_per_cycle: 4}}
lines:
  - id: l1
    products: [A, {{id: B, ideal_cycle_seconds: 38}}]
    changeover: {{target_minutes: 15}}
    sources:
      - {{type: http, id: http}}
      - {{type: http, id: counter, mode: cumulative, bits: 16}}
  - id: l2
    takt_seconds: 30
    sources: [{{type: http, id: http}}]
"""


def at(hhmm: str) -> float:
    """Return epoch seconds of a time on 2026-11-25 (UTC)."""
    return utc(f"2026-11-25 {hhmm}")


def config(tmp_path: Path) -> Config:
    """Return the products config with its database in ``tmp_path``."""
    return parse_config(CONFIG.format(db=tmp_path / "andon.db"))


@pytest.fixture
def clock() -> ManualClock:
    """The plant's clock, at the shift's start."""
    return ManualClock(at("06:00"))


@pytest.fixture
def services(tmp_path: Path, clock: ManualClock) -> Services:
    """Every service on a fresh plant."""
    return services_for(make_plant(config(tmp_path), clock))


def board(plant: Plant, line: str, now: float) -> dict[str, object]:
    """Return the board of the early shift as seen at ``now``."""
    runtime = plant.line(line)
    instance = runtime.calendar.instance("early", runtime.calendar.local_date(at("06:00")))
    assert instance is not None
    return board_dict(runtime, instance, now)


def expected_cum(t: float) -> int:
    """plan(t) by the spec's formula, by hand: A (takt 60) 06:00-10:10 less the break, B (takt 45) from 10:25."""
    secs = int(t - at("06:00"))
    a_avail = min(secs, 4 * H + 600) - min(max(secs - 3 * H, 0), 900)
    b_avail = max(0, secs - (4 * H + 1500))
    return math.floor(Fraction(a_avail, 60) + Fraction(b_avail, 45))


def run_the_shift(services: Services, clock: ManualClock) -> None:
    """A from 06:00, ten parts; B set at 10:10; its first part at 10:30 ends the 20-minute changeover."""
    services.products.set_product("l1", "A", by="sam")
    for k in range(10):
        services.plant.post_count("l1", 1, ts=at("06:00") + 30 + 60 * k)
    clock.set(at("10:10"))
    services.products.set_product("l1", "B", by="sam")
    clock.set(at("10:30"))
    services.plant.post_count("l1", 1, ts=at("10:30"))
    clock.set(at("11:00"))


def test_the_plan_follows_the_runs_and_the_overrun_is_a_five_minute_stop(
    services: Services, clock: ManualClock
) -> None:
    run_the_shift(services, clock)
    shown = board(services.plant, "l1", at("14:00"))
    rows = shown["rows"]
    assert isinstance(rows, list)
    bounds = [at("06:00") + k * H for k in range(9)]
    cum = [expected_cum(t) for t in bounds]
    assert cum == [0, 60, 120, 180, 225, 281, 361, 441, 521]  # worked out in tests/core/test_products_takt.py
    assert [r["planned"] for r in rows] == [b - a for a, b in zip(cum, cum[1:], strict=False)]
    assert [r["cum_planned"] for r in rows] == cum[1:]
    assert shown["shift_target"] == 521 == sum(r["planned"] for r in rows)
    assert [r["products"] for r in rows] == [["A"]] * 4 + [["A", "B"]] + [["B"]] * 3
    line = services.plant.line("l1")
    instance = line.calendar.at(at("10:30"))
    assert instance is not None
    assert line.changeover_overruns(instance) == [(at("10:25"), at("10:30"))]  # 20 min against 15: a 5-minute stop
    assert shown["changeover_overruns"] == [{"start": "2026-11-25T10:25:00+00:00", "end": "2026-11-25T10:30:00+00:00"}]
    kinds = line.plan_for(instance).excluded_spans()
    assert kinds == [(at("09:00"), at("09:15"), "break"), (at("10:10"), at("10:25"), "changeover")]
    # The ideal cycle follows the product, the line's override first (B: 38 on l1, not the product's 40).
    assert (line.ideal_cycle_at(at("10:09")), line.ideal_cycle_at(at("10:11"))) == (50.0, 38.0)


def test_only_the_stop_inside_the_overrun_is_charged_to_the_changeover(services: Services, clock: ManualClock) -> None:
    # B set at 10:10 (target 15 min): from 10:25 the open changeover is an overrun stop. Its first part at
    # 10:30 ends it; the silence after that part (10:30-10:50) is an ordinary stop, not the changeover's.
    line = services.plant.line("l1")
    instance = line.calendar.at(at("10:00"))
    assert instance is not None
    services.products.set_product("l1", "A", by="sam")
    clock.set(at("10:00"))
    services.plant.post_count("l1", 1, ts=at("10:00"))
    clock.set(at("10:10"))
    services.products.set_product("l1", "B", by="sam")
    clock.set(at("10:40"))
    (overrun,) = [r for r in services.stops.sync(line, instance) if r.start == at("10:25")]
    assert (overrun.reason, overrun.reason_by) == ("changeover_overrun", "changeover")
    services.plant.post_count("l1", 1, ts=at("10:30"))  # B's first part, counted late
    clock.set(at("10:50"))
    services.plant.post_count("l1", 1, ts=at("10:50"))
    stops = [(r.start, r.end, r.reason) for r in services.stops.sync(line, instance) if r.start >= at("10:25")]
    assert stops == [(at("10:25"), at("10:30"), "changeover_overrun"), (at("10:30"), at("10:50"), None)]
    _rows, shift = services.stops.shift_losses(line, instance, at("10:50"))
    assert shift.unplanned_ms["changeover"] == 300_000  # the overrun's 5 minutes, not the 20 after it

    # A record stored with the overrun's reason though it starts after the changeover ended is put right at
    # the next start (the first bring-up after a restart).
    with services.plant.store.engine.begin() as conn:
        conn.execute(update(StopRow).where(StopRow.start == at("10:30")).values(
            reason="changeover_overrun", reason_by="changeover"))
    plant = reopen(services.plant, clock)
    again = services_for(plant)
    line = plant.line("l1")
    stops = [(r.start, r.reason, r.reason_by) for r in again.stops.sync(line, instance) if r.start >= at("10:25")]
    assert stops == [(at("10:25"), "changeover_overrun", "changeover"), (at("10:30"), None, "")]
    plant.close()


def test_a_change_that_already_happened_gives_the_same_plan(services: Services, clock: ManualClock) -> None:
    services.products.set_product("l1", "A", by="sam")
    clock.set(at("10:40"))
    services.plant.post_count("l1", 1, ts=at("10:30"))
    result = services.products.set_product("l1", "B", at=at("10:10"), by="sam")
    assert result["changed"] and result["run"]["start"] == "2026-11-25T10:10:00+00:00"
    rows = board(services.plant, "l1", at("14:00"))["rows"]
    assert [r["planned"] for r in rows] == [60, 60, 60, 45, 56, 80, 80, 80]  # type: ignore[index]
    # A change cannot be put before the last one, nor in the future.
    with pytest.raises(ServiceError) as before:
        services.products.set_product("l1", "A", at=at("10:05"))
    with pytest.raises(ServiceError) as future:
        services.products.set_product("l1", "A", at=at("10:50"))
    with pytest.raises(ServiceError) as unknown:
        services.products.set_product("l1", "C")
    assert (before.value.status, future.value.status, unknown.value.status) == (409, 422, 422)


def test_the_live_state_shows_product_changeover_and_then_the_overrun(services: Services, clock: ManualClock) -> None:
    services.products.set_product("l1", "A")
    clock.set(at("10:10"))
    services.plant.post_count("l1", 1, ts=at("10:09") + 30)
    services.products.set_product("l1", "B")
    clock.set(at("10:20"))
    state = services.states.of("l1")
    assert state.product is not None and (state.product.id, state.product.takt_seconds) == ("B", 45.0)
    assert state.changeover is not None
    assert (state.changeover.from_product, state.changeover.to_product, state.changeover.overrun) == ("A", "B", False)
    assert state.changeover.target_end == "2026-11-25T10:25:00+00:00"
    assert state.reason.startswith("changeover; ")  # planned: not a stop, though nothing was made for 10 minutes
    clock.set(at("10:29"))  # 30 s before the change and 4 minutes past the target: over B's 3 takts (135 s)
    state = services.states.of("l1")
    assert state.changeover is not None and state.changeover.overrun
    assert (state.condition, state.reason) == ("abnormal", "changeover overrun")
    services.plant.post_count("l1", 1, ts=at("10:29"))
    assert services.states.of("l1").changeover is None


def test_restart_rebuilds_runs_changeovers_and_the_board_exactly(
    services: Services, clock: ManualClock
) -> None:
    run_the_shift(services, clock)
    services.products.set_schedule("l1", False, at("12:00"), at("12:30"), "no material", "sam")
    before = board(services.plant, "l1", at("11:00"))
    runs_before = services.products.runs("l1", at("00:00"), at("14:00"))
    state_before = services.states.of("l1").model_dump(exclude={"at", "sources"})
    again = services_for(reopen(services.plant, clock))
    assert board(again.plant, "l1", at("11:00")) == before
    assert again.products.runs("l1", at("00:00"), at("14:00")) == runs_before
    assert again.states.of("l1").model_dump(exclude={"at", "sources"}) == state_before
    line = again.plant.line("l1")
    instance = line.calendar.at(at("10:30"))
    assert instance is not None
    assert line.changeover_overruns(instance) == [(at("10:25"), at("10:30"))]
    again.plant.close()


def test_a_not_scheduled_hour_has_plan_zero_and_condition_off(services: Services, clock: ManualClock) -> None:
    periods = services.products.set_schedule("l2", False, at("07:00"), at("08:00"), "no crew", "sam")
    assert periods == [{"start": "2026-11-25T07:00:00+00:00", "end": "2026-11-25T08:00:00+00:00",
                        "reason": "no crew", "until_first_count": False, "set_by": "sam"}]
    clock.set(at("07:30"))
    state = services.states.of("l2")
    assert (state.condition, state.reason, state.scheduled) == ("off", "not scheduled", False)
    assert state.plan_to_date == 120  # 06:00-07:00 at takt 30
    clock.set(at("08:30"))
    rows = board(services.plant, "l2", at("08:30"))["rows"]
    assert [r["planned"] for r in rows][:3] == [120, 0, 120]  # type: ignore[index]
    assert rows[1]["condition"] == "off" and rows[1]["reason_required"] is False  # type: ignore[index]
    assert board(services.plant, "l2", at("08:30"))["not_scheduled"] == [
        {"start": "2026-11-25T07:00:00+00:00", "end": "2026-11-25T08:00:00+00:00"}]
    # Scheduled again from 07:30: the second half hour plans its 60 parts.
    services.products.set_schedule("l2", True, at("07:30"), None)
    rows = board(services.plant, "l2", at("08:30"))["rows"]
    assert [r["planned"] for r in rows][:3] == [120, 60, 120]  # type: ignore[index]


def test_a_line_first_watched_mid_shift_is_judged_from_its_first_count(
    services: Services, clock: ManualClock, tmp_path: Path
) -> None:
    clock.set(at("10:23"))
    assert services.products.mark_unwatched() == ["l1", "l2"]
    state = services.states.of("l2")
    assert (state.condition, state.reason, state.plan_to_date) == ("off", "not scheduled", 0)
    clock.set(at("10:25"))
    services.plant.post_count("l2", 1, ts=at("10:25"))
    clock.set(at("11:00"))
    state = services.states.of("l2")
    assert (state.condition, state.plan_to_date, state.actual_to_date) == ("abnormal", 70, 1)  # 35 min / 30 s
    rows = board(services.plant, "l2", at("11:00"))["rows"]
    assert [r["planned"] for r in rows][:5] == [0, 0, 0, 0, 70]  # type: ignore[index]
    assert [r["condition"] for r in rows][:4] == ["off"] * 4  # type: ignore[index]
    assert services.products.schedule("l2") == [{"start": None, "end": "2026-11-25T10:25:00+00:00",
                                                  "reason": "waiting for the line's first count",
                                                  "until_first_count": True, "set_by": "andon"}]
    # A restart keeps it: the line has data now, nothing new is marked, and the plan is the same.
    again = services_for(reopen(services.plant, clock))
    assert again.products.mark_unwatched() == []
    assert again.states.of("l2").plan_to_date == 70
    # l1 is still waiting: its first product ends the wait.
    assert again.states.of("l1").condition == "off"
    again.products.set_product("l1", "A", at=at("10:50"))
    assert again.states.of("l1").plan_to_date == 10
    again.plant.close()


def test_work_order_progress_and_its_expected_finish(services: Services, clock: ManualClock) -> None:
    services.orders.create("WO-1", "l1", "A", 100, at("13:00"), "sam")
    order = services.orders.start("WO-1", None, "sam")
    assert (order["state"], order["made"], order["remaining"]) == ("started", 0, 100)
    clock.set(at("06:30"))
    for k in range(30):
        services.plant.post_count("l1", 1, ts=at("06:00") + 60 * k + 30)
    state = services.states.of("l1")
    assert state.work_order is not None
    # 30 parts in 1,800 s: 70 more need 4,200 s of available time: 07:40 (no break before it).
    assert (state.work_order.made, state.work_order.remaining, state.work_order.expected_finish) == (
        30, 70, "2026-11-25T07:40:00+00:00")
    clock.set(at("08:30"))
    for k in range(30):
        services.plant.post_count("l1", 1, ts=at("06:30") + 60 * k + 30)
    # 60 in 9,000 s; 40 more need 6,000 s from 08:30: 30 min to the break, 15 min break, then 70 min: 10:25.
    assert services.orders.get("WO-1")["expected_finish"] == "2026-11-25T10:25:00+00:00"
    services.products.set_product("l1", "B")  # the line changes: the order pauses, its parts stay its own
    assert (services.orders.get("WO-1")["state"], services.orders.get("WO-1")["made"]) == ("paused", 60)
    assert [o["id"] for o in services.orders.list("l1", "paused")] == ["WO-1"]
    clock.set(at("11:00"))
    services.orders.start("WO-1", None, "sam")
    clock.set(at("11:30"))
    services.plant.post_count("l1", 5, ts=at("11:00"))
    assert services.orders.get("WO-1")["made"] == 65
    done = services.orders.complete("WO-1", None, "sam")
    assert (done["state"], done["made"], done["remaining"]) == ("completed", 65, 35)
    state = services.states.of("l1")
    assert state.work_order is None and state.product is not None and state.product.id == "A"
    with pytest.raises(ServiceError) as again:
        services.orders.start("WO-1", None, "sam")
    assert again.value.status == 409


def test_the_running_products_parts_per_cycle_multiplies(services: Services, clock: ManualClock) -> None:
    clock.set(at("06:02"))
    services.plant.intake("l1", "counter", 100, ts=at("06:01"))  # a baseline
    services.plant.intake("l1", "counter", 101, ts=at("06:02"))  # A: 1 per cycle
    clock.set(at("06:10"))
    services.products.set_product("l1", "B", at=at("06:03"))
    services.plant.intake("l1", "counter", 103, ts=at("06:04"))  # B: 4 per cycle
    assert services.states.of("l1").actual_to_date == 1 + 2 * 4


def test_a_product_reading_from_a_source_changes_the_product(services: Services, clock: ManualClock) -> None:
    acked: list[int] = []
    clock.set(at("07:00"))
    services.plant.product_reading("l1", "http", "B", on_stored=lambda: acked.append(1))
    assert services.states.of("l1").product.id == "A"  # type: ignore[union-attr]  # http is no product source
    assert acked == [1]
    services.products.reading("l1", "plc", {"product": "B", "work_order": "WO-7", "quantity": 40}, ts=at("06:50"),
                              on_stored=lambda: acked.append(2))
    state = services.states.of("l1")
    assert state.product is not None and (state.product.id, state.product.since) == ("B", "2026-11-25T06:50:00+00:00")
    assert state.work_order is not None and (state.work_order.id, state.work_order.quantity) == ("WO-7", 40)
    services.products.reading("l1", "plc", "C", on_stored=lambda: acked.append(3))
    assert acked == [1, 2, 3]
    assert services.plant.metrics.rejected.labels("l1", "unknown_product")._value.get() == 1
    services.products.reading("l1", "plc", "A", ts=at("06:40"), on_stored=lambda: acked.append(4))  # before B's run
    assert services.plant.metrics.rejected.labels("l1", "product_refused")._value.get() == 1
    assert acked == [1, 2, 3, 4] and services.states.of("l1").product.id == "B"  # type: ignore[union-attr]


def test_a_change_placed_in_the_past_moves_the_parts_after_it_to_the_new_run(
    services: Services, clock: ManualClock
) -> None:
    services.orders.create("WO-A", "l1", "A", 100, None, "sam")
    services.orders.create("WO-B", "l1", "B", 100, None, "sam")
    services.orders.start("WO-A", None, "sam")
    clock.set(at("10:30"))
    for minute in range(0, 30, 2):  # a part every two minutes, 10:00 to 10:28
        services.plant.post_count("l1", 1, ts=at("10:00") + 60 * minute)
    services.products.set_product("l1", "B", at=at("10:10"), work_order="WO-B", by="sam")
    # 10:00, 10:02 ... 10:08 were WO-A's (5 parts); 10:10 ... 10:28 are WO-B's (10), the first of them at 10:10
    # ending the changeover at once.
    assert (services.orders.get("WO-A")["made"], services.orders.get("WO-B")["made"]) == (5, 10)
    line = services.plant.line("l1")
    instance = line.calendar.at(at("10:30"))
    assert instance is not None
    assert line.changeover_overruns(instance) == []
    assert [s for s in line.plan_for(instance).excluded_spans() if s[2] == "changeover"] == []
    before = board(services.plant, "l1", at("10:30"))
    again = services_for(reopen(services.plant, clock))
    assert (again.orders.get("WO-A")["made"], again.orders.get("WO-B")["made"]) == (5, 10)
    assert board(again.plant, "l1", at("10:30")) == before
    again.plant.close()
