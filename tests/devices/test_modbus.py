"""The Modbus TCP source against a real pymodbus server on a loopback port."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from pydantic import ValidationError

from andon.clock import ManualClock
from devices.catalog import sources
from devices.connections import Connections
from devices.sources.modbus import ModbusHub, ModbusSource, ModbusSourceConfig, decode_words
from tests.conftest import RecordingSink, free_port
from tests.devices.polling import advance, cancel, eventually, polls, set_clock, stepping

T0 = 1_764_320_400.0  # 2025-11-28T09:00:00Z
UNIT = 1


class Plc:
    """A pymodbus server standing in for a PLC: registers the test sets, connections it counts."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.server: Any = None
        self.connects = 0

    def _trace_connect(self, connected: bool) -> None:
        if connected:
            self.connects += 1

    async def start(self) -> None:
        """Listen on 127.0.0.1:port with 64 of each kind of register, all zero."""
        from pymodbus.server import ModbusTcpServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        def bits() -> list[SimData]:
            return [SimData(0, count=64, values=False, datatype=DataType.BITS)]

        def words() -> list[SimData]:
            return [SimData(0, count=64, values=0, datatype=DataType.REGISTERS)]

        device = SimDevice(id=UNIT, simdata=(bits(), bits(), words(), words()))
        self.server = ModbusTcpServer(
            device,
            address=("127.0.0.1", self.port),
            trace_connect=self._trace_connect,
        )
        await self.server.serve_forever(background=True)

    async def stop(self) -> None:
        """Stop listening and drop every client, as a PLC switched off."""
        if self.server is not None:
            await self.server.shutdown()
            self.server = None

    async def set_holding(self, address: int, words: list[int]) -> None:
        """Write holding registers from the PLC side."""
        await self.server.async_setValues(UNIT, 16, address, words)

    async def set_input(self, address: int, words: list[int]) -> None:
        """Write input registers from the PLC side."""
        await self.server.async_setValues(UNIT, 4, address, words)

    async def set_coil(self, address: int, on: bool) -> None:
        """Switch a coil from the PLC side."""
        await self.server.async_setValues(UNIT, 5, address, [on])


def config(port: int, **keys: Any) -> ModbusSourceConfig:
    """Build a source config for the test PLC with short poll and retry periods."""
    base: dict[str, Any] = {
        "type": "modbus",
        "host": "127.0.0.1",
        "port": port,
        "register": 0,
        "poll_seconds": 0.05,
        "timeout_seconds": 1.0,
        "reconnect_max_seconds": 0.2,
    }
    base.update(keys)
    return ModbusSourceConfig.model_validate(base)


def run_with_plc(scenario: Callable[[Plc], Coroutine[Any, Any, None]]) -> None:
    """Run one async scenario against a fresh PLC that is always stopped afterwards."""

    async def main() -> None:
        plc = Plc(free_port())
        await plc.start()
        try:
            await scenario(plc)
        finally:
            await plc.stop()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("keys", "words", "expected"),
    [
        ({"bits": 16}, [65535], 65535),
        ({"bits": 16, "signed": True}, [65535], -1),
        ({"bits": 16, "signed": True}, [0x8000], -32768),
        ({"bits": 32}, [0x0001, 0x0002], 65538),
        ({"bits": 32, "word_order": "little"}, [0x0002, 0x0001], 65538),
        ({"bits": 32}, [0xFFFF, 0xFFFF], 4_294_967_295),
        ({"bits": 32, "signed": True}, [0xFFFF, 0xFFFE], -2),
        ({"bits": 32, "signed": True, "word_order": "little"}, [0xFFFE, 0xFFFF], -2),
        ({"bits": 64}, [0x0000, 0x0001, 0x0000, 0x0005], 4_294_967_301),
        ({"bits": 64, "word_order": "little"}, [0x0005, 0x0000, 0x0001, 0x0000], 4_294_967_301),
    ],
)
@pytest.mark.parametrize("register_type", ["holding", "input"])
def test_reads_counter_values_exactly(
    register_type: str, keys: dict[str, Any], words: list[int], expected: int
) -> None:
    """Each read decodes the registers into the exact counter value, stamped by the clock."""

    async def scenario(plc: Plc) -> None:
        write = plc.set_holding if register_type == "holding" else plc.set_input
        await write(10, words)
        sink = RecordingSink()
        clock = ManualClock(T0)
        cfg = config(plc.port, register=10, register_type=register_type, mode="cumulative", **keys)
        task = asyncio.create_task(ModbusSource(cfg, sink, Connections(clock)).run())
        try:
            await eventually(lambda: len(sink.readings) >= 1, task)
            await write(10, [0] * len(words))
            await set_clock(clock, T0 + 60, task)  # the one poll at T0 + 60 reads the new value
            await eventually(lambda: sink.values()[-1] == 0, task)
        finally:
            await cancel(task)
        assert sink.readings[0] == {"value": expected, "ts": T0, "event_id": None, "kind": None}
        assert set(sink.values()) == {expected, 0}
        assert sink.readings[-1]["ts"] == T0 + 60
        assert sink.events == [("online", "")]

    run_with_plc(scenario)


def test_counter_increments_are_read_in_order() -> None:
    """A counter the PLC steps 1..5 is seen as exactly those values, in order."""

    async def scenario(plc: Plc) -> None:
        sink = RecordingSink()
        clock = ManualClock(T0)
        cfg = config(plc.port, register=3, bits=16, mode="cumulative")
        task = asyncio.create_task(ModbusSource(cfg, sink, Connections(clock)).run())
        try:
            for n in range(1, 6):
                await plc.set_holding(3, [n])
                await stepping(clock, lambda n=n: sink.values()[-1:] == [n], task)  # type: ignore[misc]
        finally:
            await cancel(task)
        seen = [v for i, v in enumerate(sink.values()) if i == 0 or sink.values()[i - 1] != v]
        assert seen[-5:] == [1, 2, 3, 4, 5]

    run_with_plc(scenario)


def test_coil_in_pulse_mode_counts_rising_edges() -> None:
    """Pulse mode: each 0->1 of the coil is one reading of 1; a coil already on at start is not."""

    async def scenario(plc: Plc) -> None:
        await plc.set_coil(7, True)
        sink = RecordingSink()
        clock = ManualClock(T0)
        cfg = config(plc.port, register=7, register_type="coil", mode="pulse")
        task = asyncio.create_task(ModbusSource(cfg, sink, Connections(clock)).run())
        try:
            await polls(clock, 3, task)
            for n in range(3):
                await plc.set_coil(7, False)
                await polls(clock, 2, task)
                await plc.set_coil(7, True)
                await set_clock(clock, T0 + 10 * (n + 1), task)  # the poll that sees the rise
                await polls(clock, 2, task)
        finally:
            await cancel(task)
        assert sink.readings == [
            {"value": 1, "ts": T0 + 10, "event_id": None, "kind": None},
            {"value": 1, "ts": T0 + 20, "event_id": None, "kind": None},
            {"value": 1, "ts": T0 + 30, "event_id": None, "kind": None},
        ]
        assert sink.events == [("online", "")]

    run_with_plc(scenario)


def test_coil_in_increment_mode_reads_zero_or_one() -> None:
    """Outside pulse mode a coil is read as its value, 0 or 1."""

    async def scenario(plc: Plc) -> None:
        sink = RecordingSink()
        clock = ManualClock(T0)
        cfg = config(plc.port, register=2, register_type="coil", mode="increment")
        task = asyncio.create_task(ModbusSource(cfg, sink, Connections(clock)).run())
        try:
            await eventually(lambda: sink.values()[-1:] == [0], task)
            await plc.set_coil(2, True)
            await stepping(clock, lambda: sink.values()[-1:] == [1], task)
        finally:
            await cancel(task)
        assert set(sink.values()) == {0, 1}

    run_with_plc(scenario)


def test_sources_on_one_plc_share_one_connection() -> None:
    """Two sources (two lines) on one host:port use one hub and one TCP connection."""

    async def scenario(plc: Plc) -> None:
        await plc.set_holding(0, [0, 1234])
        await plc.set_holding(20, [4321])
        clock = ManualClock(T0)
        shared = Connections(clock)
        sink_a, sink_b = RecordingSink(), RecordingSink()
        source_a = ModbusSource(config(plc.port, register=0, bits=32), sink_a, shared)
        source_b = ModbusSource(config(plc.port, register=20, bits=16), sink_b, shared)
        tasks = [asyncio.create_task(s.run()) for s in (source_a, source_b)]
        try:
            await stepping(clock, lambda: len(sink_a.readings) >= 3 and len(sink_b.readings) >= 3, *tasks)
            assert len(shared.modbus) == 1
            hub = shared.modbus.get(("127.0.0.1", plc.port))
            assert isinstance(hub, ModbusHub)
            assert source_a.link is hub and source_b.link is hub
            assert hub.connections_made == 1
            assert plc.connects == 1
        finally:
            await cancel(*tasks)
        assert set(sink_a.values()) == {1234}
        assert set(sink_b.values()) == {4321}
        assert len(shared.modbus) == 0  # the last source to stop closed the connection

    run_with_plc(scenario)


def test_plc_stop_is_reported_once_and_restart_resumes_readings() -> None:
    """PLC off: one offline naming host:port; PLC back: online again and exact values resume."""

    async def scenario(plc: Plc) -> None:
        await plc.set_holding(5, [0, 500])
        sink = RecordingSink()
        clock = ManualClock(T0)
        cfg = config(plc.port, register=5, bits=32, mode="cumulative")
        task = asyncio.create_task(ModbusSource(cfg, sink, Connections(clock)).run())
        try:
            await eventually(lambda: len(sink.readings) >= 1, task)
            await plc.stop()
            await stepping(clock, lambda: len(sink.events) >= 2, task)
            await advance(clock, 0.6, task)  # a dozen poll periods and several reconnect attempts
            assert len(sink.events) == 2
            before_restart = len(sink.readings)
            await plc.start()  # a fresh PLC on the same port, its memory zeroed
            await plc.set_holding(5, [1, 7])
            await set_clock(clock, T0 + 5, task)  # a reconnect is due: the poll at T0 + 5 reads
            await eventually(lambda: sink.values()[-1:] == [65543], task)
        finally:
            await cancel(task)
        kinds = [kind for kind, _ in sink.events]
        assert kinds == ["online", "offline", "online"]
        reason = sink.events[1][1]
        assert reason.startswith(f"PLC 127.0.0.1:{plc.port} unreachable: ")
        assert set(sink.values()[:before_restart]) == {500}
        assert sink.readings[-1]["ts"] == T0 + 5
        assert plc.connects == 2  # one connection before the stop, one reconnection after

    run_with_plc(scenario)


def test_refused_read_marks_source_offline_once() -> None:
    """A register the PLC does not have gives one offline with the Modbus exception code."""

    async def scenario(plc: Plc) -> None:
        sink = RecordingSink()
        clock = ManualClock(T0)
        cfg = config(plc.port, register=63, bits=32)  # 63 and 64: the server has 0..63
        task = asyncio.create_task(ModbusSource(cfg, sink, Connections(clock)).run())
        try:
            await polls(clock, 5, task)
        finally:
            await cancel(task)
        assert sink.readings == []
        assert sink.events == [
            ("offline", f"PLC 127.0.0.1:{plc.port} refused to read holding 63 (unit 1): "
             "Modbus exception 2"),
        ]

    run_with_plc(scenario)


def test_unreachable_plc_at_start_is_reported_once() -> None:
    """Nothing listening: one offline naming the PLC, no readings, polling goes on."""

    async def scenario() -> None:
        port = free_port()
        sink = RecordingSink()
        clock = ManualClock(T0)
        cfg = config(port, register=0)
        task = asyncio.create_task(ModbusSource(cfg, sink, Connections(clock)).run())
        try:
            await eventually(lambda: len(sink.events) >= 1, task)
            await advance(clock, 0.5, task)  # ten polls and several reconnect attempts
        finally:
            await cancel(task)
        assert len(sink.events) == 1
        assert sink.events[0][0] == "offline"
        assert sink.events[0][1].startswith(f"PLC 127.0.0.1:{port} unreachable: ")
        assert sink.readings == []

    asyncio.run(scenario())


def test_silent_plc_times_out_and_is_reported_once() -> None:
    """A PLC that accepts the connection but never answers: one offline after the timeout."""

    async def scenario() -> None:
        accepted: list[asyncio.StreamWriter] = []

        async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.append(writer)  # keep the socket open, say nothing

        server = await asyncio.start_server(hold, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        sink = RecordingSink()
        clock = ManualClock(T0)
        cfg = config(port, register=0, timeout_seconds=0.2)
        task = asyncio.create_task(ModbusSource(cfg, sink, Connections(clock)).run())
        try:
            await eventually(lambda: len(sink.events) >= 1, task)
            await advance(clock, 0.8, task)  # several more reconnects, each timing out
        finally:
            await cancel(task)
            server.close()
            for writer in accepted:
                writer.close()
            await server.wait_closed()
        assert len(sink.events) == 1
        assert sink.events[0][0] == "offline"
        assert sink.events[0][1].startswith(f"PLC 127.0.0.1:{port} unreachable: ")
        assert sink.readings == []
        assert len(accepted) >= 2  # the hub dropped the silent connection and tried again

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("words", "order", "signed", "expected"),
    [
        ([0x1234, 0x5678], "big", False, 0x12345678),
        ([0x1234, 0x5678], "little", False, 0x56781234),
        ([0x8000, 0x0000], "big", True, -(2**31)),
        ([0x7FFF], "big", True, 32767),
    ],
)
def test_decode_words(words: list[int], order: str, signed: bool, expected: int) -> None:
    """Registers join into integers by word order and sign."""
    assert decode_words(words, word_order=order, signed=signed) == expected


def test_registered_under_modbus() -> None:
    """The registry maps type modbus to this driver."""
    driver = sources()["modbus"]
    assert driver.config_model is ModbusSourceConfig
    assert driver.driver_class is ModbusSource


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"host": "10.0.0.5", "register": 1, "slave": 1}, "Extra inputs are not permitted"),
        ({"host": "10.0.0.5"}, "register"),
        ({"host": "10.0.0.5", "register": 1, "register_type": "holdings"}, "register_type"),
        ({"host": "10.0.0.5", "register": 1, "bits": 24}, "bits"),
        ({"host": "10.0.0.5", "register": 1, "word_order": "middle"}, "word_order"),
        ({"host": "10.0.0.5", "register": 1, "poll_seconds": 0}, "poll_seconds"),
        ({"host": "10.0.0.5", "register": 65535, "bits": 32}, "runs past 65535"),
        (
            {"host": "10.0.0.5", "register": 1, "register_type": "coil", "mode": "cumulative"},
            "cannot be a cumulative counter",
        ),
    ],
)
def test_config_rejects_bad_keys(keys: dict[str, Any], message: str) -> None:
    """Unknown keys, bad values and impossible layouts are refused with a clear message."""
    with pytest.raises(ValidationError, match=message):
        ModbusSourceConfig.model_validate({"type": "modbus", **keys})


def test_config_defaults() -> None:
    """Port 502, unit 1, holding register, big word order, one poll a second."""
    cfg = ModbusSourceConfig.model_validate({"type": "modbus", "host": "10.0.0.5", "register": 4})
    assert (cfg.port, cfg.unit, cfg.register_type, cfg.word_order, cfg.poll_seconds) == (
        502, 1, "holding", "big", 1.0,
    )
