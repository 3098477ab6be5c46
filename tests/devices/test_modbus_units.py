"""Units behind one Modbus TCP gateway: a unit that does not answer is offline alone.

The peer is a real pymodbus server with units 1 and 2, reached through a gateway written here that
forwards every request except those for unit 2, as a gateway does for a dead serial slave.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from andon.clock import ManualClock
from devices.connections import Connections
from devices.sources.modbus import ModbusSource, ModbusSourceConfig
from tests.conftest import RecordingSink, free_port
from tests.devices.polling import cancel, stepping

T0 = 1_764_320_400.0


async def start_plc(port: int) -> Any:
    """Start a pymodbus server with units 1 and 2; unit 1 holds 40 in holding register 0, unit 2 holds 7."""
    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    def device(unit: int, value: int) -> Any:
        bits = [SimData(0, count=8, values=False, datatype=DataType.BITS)]
        words = [SimData(0, count=8, values=value, datatype=DataType.REGISTERS)]
        return SimDevice(id=unit, simdata=(bits, bits, words, words))

    server = ModbusTcpServer([device(1, 40), device(2, 7)], address=("127.0.0.1", port))
    await server.serve_forever(background=True)
    return server


async def start_gateway(target: int, silent: set[int]) -> asyncio.Server:
    """Forward Modbus TCP frames to ``target``, dropping requests for the ``silent`` units (no answer at all)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)

        async def answers() -> None:
            while data := await up_reader.read(4096):
                writer.write(data)

        back = asyncio.create_task(answers())
        try:
            while True:
                head = await reader.readexactly(7)  # MBAP header: transaction, protocol, length, unit
                body = await reader.readexactly(int.from_bytes(head[4:6], "big") - 1)
                if head[6] not in silent:
                    up_writer.write(head + body)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            back.cancel()
            writer.close()
            up_writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def config(port: int, unit: int) -> ModbusSourceConfig:
    """A cumulative counter at holding register 0 of ``unit``."""
    return ModbusSourceConfig.model_validate({
        "type": "modbus", "host": "127.0.0.1", "port": port, "unit": unit, "register": 0, "bits": 16,
        "mode": "cumulative", "poll_seconds": 1.0, "timeout_seconds": 0.3, "reconnect_max_seconds": 8.0,
    })


def test_a_silent_unit_is_offline_alone_and_its_neighbour_keeps_counting() -> None:
    """Unit 2 never answers: it goes offline once naming itself; unit 1 reads every poll on one connection."""

    async def scenario() -> None:
        plc_port = free_port()
        plc = await start_plc(plc_port)
        gateway = await start_gateway(plc_port, silent={2})
        port = gateway.sockets[0].getsockname()[1]
        clock = ManualClock(T0)
        shared = Connections(clock)
        dead_sink, good_sink = RecordingSink(), RecordingSink()
        dead = ModbusSource(config(port, 2), dead_sink, shared)
        good = ModbusSource(config(port, 1), good_sink, shared)
        tasks = [asyncio.create_task(dead.run()), asyncio.create_task(good.run())]
        try:
            await stepping(clock, lambda: good.polls >= 12, *tasks, timeout=30)
            made = good.link.connections_made if good.link is not None else -1
        finally:
            for task in tasks:
                await cancel(task)
            gateway.close()
            with contextlib.suppress(Exception):
                await plc.shutdown()
        assert good_sink.events == [("online", "")]
        assert good_sink.values()[:12] == [40] * 12
        assert dead_sink.events == [
            ("offline", f"PLC 127.0.0.1:{port} unit 2 does not answer (0.3 s); the other units do")
        ]
        assert dead_sink.values() == []
        assert made == 1  # one connection all along: the silent unit never dropped it

    asyncio.run(scenario())


def test_the_same_units_answer_directly() -> None:
    """Without the gateway's silence both units read (the peer itself is sound)."""

    async def scenario() -> None:
        plc_port = free_port()
        plc = await start_plc(plc_port)
        clock = ManualClock(T0)
        shared = Connections(clock)
        sinks = [RecordingSink(), RecordingSink()]
        sources = [ModbusSource(config(plc_port, u), s, shared) for u, s in zip((1, 2), sinks, strict=True)]
        tasks = [asyncio.create_task(s.run()) for s in sources]
        try:
            await stepping(clock, lambda: all(s.polls >= 3 for s in sources), *tasks)
        finally:
            for task in tasks:
                await cancel(task)
            await plc.shutdown()
        assert [s.values()[:3] for s in sinks] == [[40] * 3, [7] * 3]

    asyncio.run(scenario())
