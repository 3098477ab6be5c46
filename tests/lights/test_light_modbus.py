"""Modbus stack light against a real pymodbus TCP server; the test reads the coils back."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from andon.clock import ManualClock
from andon.lights import LightPattern
from devices.connections import Connections
from devices.lights.modbus import (
    ColourName,
    ModbusLightConfig,
    ModbusStackLight,
    banner_tl50_value,
    coil_runs,
)
from devices.sources.modbus import ModbusSource
from tests.conftest import RecordingSink, free_port
from tests.devices.polling import cancel, eventually, stepping
from tests.devices.test_modbus import Plc, run_with_plc
from tests.devices.test_modbus import config as counter_config

T0 = 1_800_000_000.0
COILS = {"red": 0, "yellow": 1, "green": 2, "blue": 3, "buzzer": 5}


async def with_server(body: Callable[[int, Any], Awaitable[None]]) -> None:
    """Run a pymodbus server (unit 1: 32 coils, 32 holding registers) around ``body(port, reader)``."""
    port = free_port()
    device = SimDevice(
        1,
        simdata=(
            [SimData(0, count=32, values=False, datatype=DataType.BITS)],
            [SimData(0, count=16, values=False, datatype=DataType.BITS)],
            [SimData(0, count=32, values=0, datatype=DataType.REGISTERS)],
            [SimData(0, count=16, values=0, datatype=DataType.REGISTERS)],
        ),
    )
    server = ModbusTcpServer(device, address=("127.0.0.1", port))
    task = asyncio.create_task(server.serve_forever())
    reader = AsyncModbusTcpClient("127.0.0.1", port=port)
    try:
        for _ in range(100):
            if await reader.connect():
                break
            await asyncio.sleep(0.02)
        await body(port, reader)
    finally:
        reader.close()
        await server.shutdown()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def coils(reader: Any) -> list[bool]:
    """Read coils 0-7 back from the server."""
    response = await reader.read_coils(0, count=8, device_id=1)
    return list(response.bits[:8])


def light_for(port: int, clock: ManualClock, **extra: object) -> ModbusStackLight:
    """Build a Modbus light pointed at the test server."""
    config = ModbusLightConfig.model_validate({"type": "modbus", "host": "127.0.0.1", "port": port, "unit": 1, **extra})
    return ModbusStackLight(config, Connections(clock))


def test_coils_follow_the_pattern() -> None:
    """Each colour lands on its coil; the buzzer on coil 5; coil 4 (unused) stays off."""

    async def body(port: int, reader: Any) -> None:
        light = light_for(port, ManualClock(T0), coils=COILS)
        try:
            await light.show(LightPattern(green="on"))
            assert await coils(reader) == [False, False, True, False, False, False, False, False]
            await light.show(LightPattern(red="on", blue="on", buzzer="on"))
            assert await coils(reader) == [True, False, False, True, False, True, False, False]
            await light.show(LightPattern())
            assert await coils(reader) == [False] * 8
        finally:
            await light.close()

    asyncio.run(with_server(body))


def test_driver_flashes_coils_at_the_configured_rate() -> None:
    """Yellow flash at 1 Hz: coil 1 on at 0, off at 0.5 s, on at 1.0 s; green steady."""

    async def body(port: int, reader: Any) -> None:
        clock = ManualClock(T0)
        light = light_for(port, clock, coils=COILS)
        seen: list[tuple[float, list[bool]]] = []
        try:
            await light.show(LightPattern(green="on", yellow="flash", buzzer="pulse"))
            for tenth in range(0, 16):
                clock.set(T0 + tenth / 10)
                await light.step()
                state = await coils(reader)
                if not seen or seen[-1][1] != state:
                    seen.append((tenth / 10, state))
        finally:
            await light.close()
        lit = [False, True, True, False, False, True, False, False]
        dark = [False, False, True, False, False, False, False, False]
        assert seen == [(0.0, lit), (0.5, dark), (1.0, lit), (1.5, dark)]

    asyncio.run(with_server(body))


def test_banner_tl50_register_bits() -> None:
    """banner_tl50: red (segment 5) flashing = 2, green (segment 3) steady = 16: register 18."""

    async def body(port: int, reader: Any) -> None:
        light = light_for(port, ManualClock(T0), layout="banner_tl50", address=8, buzzer_coil=6)
        try:
            await light.show(LightPattern(red="flash", green="on", buzzer="pulse"))
            response = await reader.read_holding_registers(8, count=1, device_id=1)
            assert response.registers == [18]
            assert (await coils(reader))[6] is True
            await light.show(LightPattern(white="flash", blue="on"))
            response = await reader.read_holding_registers(8, count=1, device_id=1)
            assert response.registers == [512 + 64]
            assert (await coils(reader))[6] is False
        finally:
            await light.close()

    asyncio.run(with_server(body))


def test_exception_response_is_a_fault_and_unreachable_is_too() -> None:
    """A coil the module lacks gives an exception response: the write fails and says so."""

    async def body(port: int, reader: Any) -> None:
        light = light_for(port, ManualClock(T0), coils={"red": 40})
        try:
            await light.show(LightPattern(red="on"))
            assert light.written is None
            assert light.faults.current is not None
            assert light.faults.current.startswith("write coil 40 refused")
        finally:
            await light.close()

    asyncio.run(with_server(body))

    async def nothing_there() -> None:
        light = light_for(free_port(), ManualClock(T0), coils={"red": 0}, timeout_seconds=0.5)
        try:
            await light.show(LightPattern(red="on"))
        finally:
            await light.close()
        assert light.faults.current is not None and light.faults.current.endswith("unreachable")

    asyncio.run(nothing_there())


@pytest.mark.parametrize(
    ("pattern", "value"),
    [
        (LightPattern(), 0),
        (LightPattern(red="on"), 1),
        (LightPattern(red="flash"), 2),
        (LightPattern(yellow="on"), 4),
        (LightPattern(green="flash"), 32),
        (LightPattern(blue="on"), 64),
        (LightPattern(white="on"), 256),
        (LightPattern(red="flash", yellow="flash", green="flash", blue="flash", white="flash"), 682),
    ],
)
def test_banner_tl50_value_table(pattern: LightPattern, value: int) -> None:
    """Bit-packed value per segment: steady 1, 4, 16, 64, 256; flash twice that."""
    segments: dict[ColourName, int] = {"red": 5, "yellow": 4, "green": 3, "blue": 2, "white": 1}
    assert banner_tl50_value(pattern, segments) == value


def test_contiguous_coils_go_in_one_request() -> None:
    """Coils 0-3 are one run, 5 and 7 runs of their own."""
    levels = {0: True, 1: False, 2: True, 3: False, 5: True, 7: False}
    assert coil_runs(levels) == [(0, [True, False, True, False]), (5, [True]), (7, [False])]


def test_config_checks() -> None:
    """Coils layout needs coils; two lamps on one coil are refused."""
    with pytest.raises(ValueError, match="needs `coils`"):
        ModbusLightConfig.model_validate({"type": "modbus", "host": "h"})
    with pytest.raises(ValueError, match="share one coil"):
        ModbusLightConfig.model_validate({"type": "modbus", "host": "h", "coils": {"red": 1, "green": 1}})


async def plc_coils(plc: Plc) -> list[bool]:
    """Read coils 0-7 from the PLC's own memory (function code 1), not over a connection."""
    return [bool(b) for b in await plc.server.async_getValues(1, 1, 0, 8)]


@pytest.mark.parametrize("light_first", [True, False], ids=["light-first", "counter-first"])
def test_a_light_and_a_counter_on_one_plc_share_one_connection(light_first: bool) -> None:
    """A Modbus light and a Modbus counter on one host:port use one hub: the PLC sees one TCP connection.

    The counter reads exact values while the light writes its coils; the coils read back from the PLC's own
    memory (a reader client of the test's would be a second connection).
    """

    async def scenario(plc: Plc) -> None:
        clock = ManualClock(T0)
        shared = Connections(clock)
        await plc.set_holding(0, [0, 1234])
        sink = RecordingSink()
        source = ModbusSource(counter_config(plc.port, register=0, bits=32), sink, shared)
        light = ModbusStackLight(
            ModbusLightConfig.model_validate({"type": "modbus", "host": "127.0.0.1", "port": plc.port, "coils": COILS}),
            shared,
        )
        if light_first:
            await light.show(LightPattern(green="on"))
        task = asyncio.create_task(source.run())
        try:
            await eventually(lambda: sink.values() == [1234], task)
            await light.show(LightPattern(green="on"))
            assert await plc_coils(plc) == [False, False, True, False, False, False, False, False]
            await light.show(LightPattern(red="on", blue="on", buzzer="on"))
            assert await plc_coils(plc) == [True, False, False, True, False, True, False, False]
            await plc.set_holding(0, [0, 1240])
            await stepping(clock, lambda: sink.values()[-1:] == [1240], task)
            assert light.written == LightPattern(red="on", blue="on", buzzer="on")
            assert light.faults.current is None
            assert plc.connects == 1
            assert len(shared.modbus) == 1
            assert light.hub is source.link is shared.modbus.get(("127.0.0.1", plc.port))
            assert light.hub is not None and light.hub.users == 2
        finally:
            await light.close()
            await cancel(task)
        assert len(shared.modbus) == 0  # the last user closed the connection
        assert set(sink.values()) == {1234, 1240}

    run_with_plc(scenario)
