"""Hostile readings from a serial counter and a PLC into the real plant: refused with a reason, reading goes on."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any

from andon.clock import ManualClock
from andon.config.loader import parse_config
from andon.plant import Plant
from andon.storage.store import Store, open_database
from devices.connections import Connections
from devices.sources.modbus import ModbusSource
from devices.sources.serial_line import SerialLineSource, SerialSourceConfig
from tests.conftest import RecordingSink, wait_until
from tests.core.engine_fixtures import utc
from tests.devices.polling import RunningSource, cancel, stepping
from tests.devices.test_modbus import config as modbus_config
from tests.devices.test_modbus import run_with_plc
from tests.devices.test_serial import SocatPair, socat_pair  # noqa: F401 (fixture)

CONFIG = """
plant: {{name: Hostile Plant, timezone: UTC}}
database: sqlite:///{db}
shifts: [{{id: day, start: "06:00", end: "14:00"}}]
lines:
  - id: line1
    takt_seconds: 60
    sources: [{{type: serial, id: counter, port: {port}}}]
"""


def port_is_open(device: Path) -> bool:
    """Say whether this process (the driver's thread) has the pseudo-terminal open."""
    target = os.path.realpath(device)
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{fd}") == target:
                return True
    return False


def parts(plant: Plant) -> float:
    """Return the good parts the plant counted on line1."""
    return plant.metrics.registry.get_sample_value("andon_parts_total", {"line": "line1", "kind": "good"}) or 0.0


def plant_rejects(plant: Plant, reason: str) -> float:
    """Return the plant's reject counter for one reason."""
    value = plant.metrics.registry.get_sample_value("andon_events_rejected_total", {"line": "line1", "reason": reason})
    return value or 0.0


def test_serial_counter_lines_that_broke_the_reader_are_refused_and_counting_goes_on(
    socat_pair: SocatPair, tmp_path: Path  # noqa: F811
) -> None:
    config = parse_config(CONFIG.format(db=tmp_path / "andon.db", port=socat_pair.device))
    clock = ManualClock(utc("2026-11-25 07:30"))
    plant = Plant(config, Store(open_database(config.database)), clock)
    source_config = SerialSourceConfig.model_validate({"port": str(socat_pair.device), "retry_max_seconds": 0.2})
    source = SerialLineSource(source_config, plant.sink("line1", "counter"), Connections(clock))
    try:
        with RunningSource(source):
            wait_until(lambda: port_is_open(socat_pair.device))
            # online comes after the port is set up (pyserial flushes its input while opening)
            wait_until(lambda: plant.line("line1").state().model_dump()["sources"][0]["online"] is True)
            socat_pair.write(b"1" + b"0" * 400 + b"\n" + b"7" * 4000 + b"\n-3\n5\n")
            wait_until(lambda: parts(plant) == 5)
            socat_pair.write(b"2\n")
            wait_until(lambda: parts(plant) == 7)
        assert source.rejected == {"out_of_range": 2}
        assert plant_rejects(plant, "negative") == 1
    finally:
        plant.close()


class FaultyIntake(RecordingSink):
    """A sink whose intake fails on one value with an error no rule foresaw (a plant bug)."""

    def reading(self, value: Any, **kw: Any) -> None:
        if value == 13:
            raise ArithmeticError("intake bug")
        super().reading(value, **kw)


def test_a_plc_value_the_intake_fails_on_is_a_reject_and_polling_goes_on() -> None:
    async def scenario(plc: Any) -> None:
        sink = FaultyIntake()
        clock = ManualClock(0)
        source = ModbusSource(modbus_config(plc.port, mode="increment"), sink, Connections(clock))
        task = asyncio.create_task(source.run())
        try:
            await plc.set_holding(0, [0, 13])  # two words: a 32-bit counter
            await stepping(clock, lambda: source.rejected["intake_failed"] >= 2, task)
            await plc.set_holding(0, [0, 4])
            await stepping(clock, lambda: 4 in sink.values(), task)
            assert not task.done()
        finally:
            await cancel(task)
        assert set(source.rejected) == {"intake_failed"}
        assert set(sink.values()) <= {0, 4} and 4 in sink.values()

    run_with_plc(scenario)
