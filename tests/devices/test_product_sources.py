"""Product sources against real peers: a recipe number in a real pymodbus server switches the line's product;
the simulated plan sets a demo line's runs; a product source on an edge says it cannot run there."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from andon.clock import ManualClock
from andon.config.loader import parse_config
from andon.services import Services, services_for
from devices.connections import Connections
from devices.sources.modbus_product import ModbusProductSource
from devices.sources.product_simulator import ProductSimulator
from tests.conftest import RecordingSink
from tests.core.engine_fixtures import utc
from tests.core.plant_fixtures import make_plant
from tests.devices.polling import cancel, eventually, polls, set_clock
from tests.devices.test_modbus import Plc, run_with_plc

CONFIG = """
plant: {{name: P, timezone: UTC}}
database: sqlite:///{db}
shifts:
  - {{id: early, start: "06:00", end: "14:00"}}
  - {{id: late, start: "14:00", end: "22:00"}}
products:
  - {{id: A, takt_seconds: 60}}
  - {{id: B, takt_seconds: 45}}
lines:
  - id: l1
    products: [A, B]
    changeover: {{target_minutes: 15}}
    sources:
      - {{type: modbus_product, id: recipe, host: 127.0.0.1, port: {port}, register: 20, bits: 16,
         poll_seconds: 0.05, timeout_seconds: 1, reconnect_max_seconds: 0.2, recipes: {{1: A, 2: B}}}}
      - {{type: product_simulator, id: plan, sequence: [{{product: A, after_minutes: 0, quantity: 50}},
         {{product: B, after_minutes: 240}}], backfill_seconds: 36000, poll_seconds: 0.05}}
      - {{type: http, id: http}}
"""


def plant_services(tmp_path: Path, port: int, clock: ManualClock) -> Services:
    """Build every service on a plant whose line reads its recipe from the test PLC."""
    config = parse_config(CONFIG.format(db=tmp_path / "andon.db", port=port))
    return services_for(make_plant(config, clock))


def test_a_recipe_number_from_a_real_plc_switches_the_product(tmp_path: Path) -> None:
    clock = ManualClock(utc("2026-11-25 07:00"))

    async def scenario(plc: Plc) -> None:
        services = plant_services(tmp_path, plc.port, clock)
        source = services.config.line("l1").sources[0]
        driver = ModbusProductSource(source, services.plant.sink("l1", "recipe"), Connections(clock))
        await plc.set_holding(20, [1])
        task = asyncio.create_task(driver.run())
        line = services.plant.line("l1")
        # The driver polls on the clock: a number is set on the PLC first, then the clock jumps to when it is read.
        try:
            await eventually(lambda: len(line.timeline.runs) == 1, task)
            await polls(clock, 3, task)  # the same number again and again: no new run
            assert len(line.timeline.runs) == 1
            await plc.set_holding(20, [2])
            await set_clock(clock, utc("2026-11-25 08:00"), task)
            await eventually(lambda: len(line.timeline.runs) == 2, task)
            await plc.set_holding(20, [9])  # no product has recipe 9: refused once, the product stays
            await set_clock(clock, utc("2026-11-25 08:30"), task)
            await polls(clock, 3, task)
        finally:
            await cancel(task)
        runs = services.products.runs("l1", utc("2026-11-25 06:00"), utc("2026-11-25 09:00"))
        assert [(r["product"], r["start"], r["end"], r["source"]) for r in runs] == [
            ("A", "2026-11-25T07:00:00+00:00", "2026-11-25T08:00:00+00:00", "recipe"),
            ("B", "2026-11-25T08:00:00+00:00", None, "recipe"),
        ]
        assert runs[1]["changeover"]["from_product"] == "A"
        assert driver.rejected == {"unknown_recipe": 1}
        state = services.states.of("l1")
        assert state.product is not None and state.product.id == "B"
        assert [s.online for s in state.sources if s.id == "recipe"] == [True]
        services.plant.close()

    run_with_plc(scenario)


def test_a_product_source_on_an_edge_reports_itself_offline() -> None:
    clock = ManualClock(utc("2026-11-25 07:00"))

    async def scenario(plc: Plc) -> None:
        config = parse_config(CONFIG.format(db="/nonexistent/never-opened.db", port=plc.port))
        sink = RecordingSink()  # an edge's sink: it has reading(), not product()
        driver = ModbusProductSource(config.line("l1").sources[0], sink, Connections(clock))
        await plc.set_holding(20, [2])
        task = asyncio.create_task(driver.run())
        try:
            await eventually(lambda: driver.rejected.get("not_on_an_edge", 0) >= 1, task)
        finally:
            await cancel(task)
        assert sink.readings == []  # a recipe number is never counted as parts
        said = "product sources are read by `andon run`, not by an edge collector (set the product over the API there)"
        assert ("offline", said) in sink.events

    run_with_plc(scenario)


def plan_of(services: Services, clock: ManualClock) -> ProductSimulator:
    """The simulated product plan of line l1, on the plant's sink."""
    source = services.config.line("l1").sources[1]
    return ProductSimulator(source, services.plant.sink("l1", "plan"), Connections(clock))


def runs_of_the_day(services: Services) -> list[dict[str, Any]]:
    """Return line l1's runs on 2026-11-25."""
    return services.products.runs("l1", utc("2026-11-25 00:00"), utc("2026-11-26 00:00"))


def test_the_simulated_plan_sets_past_and_coming_runs(tmp_path: Path) -> None:
    clock = ManualClock(utc("2026-11-25 16:00"))

    async def scenario() -> None:
        services = plant_services(tmp_path, 1, clock)
        line = services.plant.line("l1")
        task = asyncio.create_task(plan_of(services, clock).run())
        try:
            # Ten hours back to 06:00: the step in force then (A), the early shift's B at 10:00, the late's A.
            await eventually(lambda: len(line.timeline.runs) == 3)
            clock.set(utc("2026-11-25 18:00") + 1)  # the late shift's step to B at 18:00
            await eventually(lambda: len(line.timeline.runs) == 4)
        finally:
            await cancel(task)
        runs = runs_of_the_day(services)
        assert [(r["product"], r["start"], r["work_order"]) for r in runs] == [
            ("A", "2026-11-25T06:00:00+00:00", "SIM-2026-11-25-early-1"),
            ("B", "2026-11-25T10:00:00+00:00", None),
            ("A", "2026-11-25T14:00:00+00:00", "SIM-2026-11-25-late-1"),
            ("B", "2026-11-25T18:00:00+00:00", None),
        ]
        assert services.orders.get("SIM-2026-11-25-late-1")["quantity"] == 50
        assert services.orders.get("SIM-2026-11-25-late-1")["state"] == "paused"
        # Started again on the same database, the plan adds nothing twice.
        task = asyncio.create_task(plan_of(services, clock).run())
        await asyncio.sleep(0.2)
        await cancel(task)
        assert len(line.timeline.runs) == 4
        services.plant.close()

    asyncio.run(scenario())


def test_the_step_in_force_when_the_backfill_begins_starts_with_the_backfill(tmp_path: Path) -> None:
    # Ten hours back from 17:00 is 07:00, inside the early shift's A (06:00-10:00): its run starts at 07:00,
    # where the simulated counts begin, not at 06:00 (an hour the line would show as stopped and unexplained).
    clock = ManualClock(utc("2026-11-25 17:00"))

    async def scenario() -> None:
        services = plant_services(tmp_path, 1, clock)
        line = services.plant.line("l1")
        task = asyncio.create_task(plan_of(services, clock).run())
        try:
            await eventually(lambda: len(line.timeline.runs) == 3)
        finally:
            await cancel(task)
        runs = runs_of_the_day(services)
        assert [(r["product"], r["start"]) for r in runs] == [
            ("A", "2026-11-25T07:00:00+00:00"), ("B", "2026-11-25T10:00:00+00:00"),
            ("A", "2026-11-25T14:00:00+00:00")]
        services.plant.close()

    asyncio.run(scenario())
