"""A PLC run bit and fault-code register, read from a real pymodbus server, open, explain and close stops."""

from __future__ import annotations

import asyncio
from pathlib import Path

from andon.clock import ManualClock
from andon.stops import StopService
from devices.connections import Connections
from devices.sources.modbus import ModbusSource, ModbusSourceConfig
from tests.core.engine_fixtures import utc
from tests.core.plant_fixtures import make_config, make_plant, reopen
from tests.devices.polling import cancel, eventually, idle, set_clock
from tests.devices.test_modbus import Plc, run_with_plc

CONFIG = """
plant: {{name: Test, timezone: UTC}}
database: sqlite:///{db}
shifts:
  - {{id: early, start: "06:00", end: "14:00"}}
lines:
  - id: line1
    takt_seconds: 60
    thresholds: {{stop_after_seconds: 36000}}
    sources:
      - {{type: http, id: http}}
      - {{type: modbus, id: run, role: run_signal, host: 127.0.0.1, port: PORT, register: 3, register_type: coil,
          poll_seconds: 0.05}}
      - {{type: modbus, id: fault, role: fault_code, fault_codes: {{17: jam, 23: no_material}}, host: 127.0.0.1,
          port: PORT, register: 10, bits: 16, poll_seconds: 0.05}}
"""


def test_a_plc_run_bit_opens_and_closes_a_stop_and_its_fault_code_explains_it(tmp_path: Path) -> None:
    clock = ManualClock(utc("2026-11-25 06:10"))

    async def scenario(plc: Plc) -> None:
        config = make_config(tmp_path, CONFIG.replace("PORT", str(plc.port)))
        plant = make_plant(config, clock)
        stops = StopService(plant, plant.store, clock)
        line = plant.line("line1")
        instance = line.calendar.at(clock.now())
        assert instance is not None
        await plc.set_coil(3, True)
        connections = Connections(clock)
        tasks = [asyncio.create_task(ModbusSource(ModbusSourceConfig.model_validate(src.model_dump(by_alias=True)),
                                                  plant.sink("line1", sid), connections).run())
                 for sid, src in zip(config.lines[0].source_ids(), config.lines[0].sources, strict=True)
                 if src.type == "modbus"]
        # The drivers poll on the clock: each value is set on the PLC first, then the clock jumps to the
        # moment it is read (every driver polls once there).
        try:
            await eventually(lambda: line.running.get("run") is True, *tasks)
            assert stops.sync(line, instance) == []
            await plc.set_coil(3, False)  # the line stops
            await set_clock(clock, utc("2026-11-25 06:20"), *tasks)
            await eventually(lambda: line.running.get("run") is False, *tasks)
            (opened,) = stops.sync(line, instance)
            assert (opened.start, opened.end, opened.reason) == (utc("2026-11-25 06:20"), None, None)
            await plc.set_holding(10, [17])  # the PLC names its fault: 17 is a jam
            await set_clock(clock, utc("2026-11-25 06:21"), *tasks)
            await eventually(lambda: stops.sync(line, instance)[0].reason == "jam", *tasks)
            await plc.set_holding(10, [0])
            await plc.set_coil(3, True)  # running again
            await set_clock(clock, utc("2026-11-25 06:25"), *tasks)
            await eventually(lambda: line.running.get("run") is True, *tasks)
            await idle(clock, *tasks)
        finally:
            await cancel(*tasks)
        (closed,) = stops.sync(line, instance)
        assert (closed.id, closed.start, closed.end, closed.reason, closed.reason_by) == (
            opened.id, utc("2026-11-25 06:20"), utc("2026-11-25 06:25"), "jam", "plc:fault")
        assert stops.describe(line, closed)["seconds"] == 300
        # A restart rebuilds the same stop from the stored run-signal changes.
        again = reopen(plant, clock)
        rebuilt = StopService(again, again.store, clock)
        line2 = again.line("line1")
        assert [(r.id, r.start, r.end, r.reason) for r in rebuilt.sync(line2, instance)] == [
            (opened.id, utc("2026-11-25 06:20"), utc("2026-11-25 06:25"), "jam")]
        again.close()

    run_with_plc(scenario)
