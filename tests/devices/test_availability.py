"""A real PLC feeding a plant: counts follow the register, a stopped PLC makes the line stale with the
reason in words, and its return resumes counting with the outage marked on the board."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

from andon.board import board_dict
from andon.clock import ManualClock
from andon.config.loader import parse_config
from andon.plant import Plant
from andon.storage.store import Store, open_database
from collector.sources import SourceRunner
from tests.conftest import free_port
from tests.core.engine_fixtures import utc
from tests.devices.polling import eventually, set_clock, stepping
from tests.devices.test_modbus import Plc

CONFIG = """
plant: {{name: P, timezone: UTC}}
database: sqlite:///{db}
shifts: [{{id: early, start: "06:00", end: "14:00"}}]
lines:
  - id: press
    takt_seconds: 60
    sources:
      - {{type: modbus, id: plc, host: 127.0.0.1, port: {port}, register: 3, bits: 16, mode: cumulative,
          poll_seconds: 0.05, timeout_seconds: 0.5, reconnect_max_seconds: 0.2}}
"""


def test_plc_outage_marks_the_line_stale_and_the_board_row_as_a_gap(tmp_path: Path) -> None:
    async def scenario() -> None:
        plc = Plc(free_port())
        await plc.start()
        config = parse_config(CONFIG.format(db=tmp_path / "a.db", port=plc.port))
        clock = ManualClock(utc("2026-11-25 07:10"))
        plant = Plant(config, Store(open_database(config.database)), clock)
        runner = SourceRunner(config, plant.sink, clock)
        line = plant.line("press")
        try:
            await plc.set_holding(3, [100])  # the baseline
            await runner.start()
            drivers = runner.tasks
            await eventually(lambda: line.normalisers["plc"].state.value == 100, *drivers)
            for value in (101, 105, 112):
                await plc.set_holding(3, [value])
                await stepping(clock, lambda value=value: line.state().model_dump()["actual_to_date"] == value - 100,  # type: ignore[misc]
                               *drivers)
            assert line.state().model_dump()["condition"] != "stale"
            await set_clock(clock, utc("2026-11-25 07:20"), *drivers)
            await plc.stop()
            await stepping(clock, lambda: line.state().model_dump()["condition"] == "stale", *drivers)
            state = line.state().model_dump()
            assert state["reason"].startswith(f"PLC 127.0.0.1:{plc.port} unreachable")
            assert state["sources"][0]["online"] is False
            await set_clock(clock, utc("2026-11-25 08:30"), *drivers)
            await plc.start()  # back with its memory cleared: a reset, then counting again
            await plc.set_holding(3, [0])
            await stepping(clock, lambda: line.state().model_dump()["condition"] != "stale", *drivers)
            await stepping(clock, lambda: line.normalisers["plc"].state.value == 0, *drivers)
            await plc.set_holding(3, [4])
            await stepping(clock, lambda: line.state().model_dump()["actual_to_date"] == 16, *drivers)
        finally:
            await runner.stop()
            await plc.stop()
            plant.close()
        instance = line.calendar.instance("early", date(2026, 11, 25))
        assert instance is not None
        rows = board_dict(line, instance, clock.now())["rows"]
        assert [(r["actual"], r["trust"]) for r in rows[1:3]] == [(12, ["gap"]), (4, ["counter_reset", "gap"])]

    asyncio.run(scenario())
