"""Patlite stack light against a TCP server that decodes PNS bytes and answers like the tower."""

from __future__ import annotations

import asyncio
import logging
import struct
from dataclasses import dataclass, field

import pytest

from andon.clock import ManualClock
from andon.lights import LightPattern
from devices.connections import Connections
from devices.lights.patlite import PatliteLightConfig, PatliteStackLight

T0 = 1_800_000_000.0
LED_NAMES = ("red", "yellow", "green", "blue", "white")


@dataclass
class Tower:
    """A PNS tower on 127.0.0.1: decodes operation control commands, answers ACK or NAK."""

    answer: int = 0x06
    frames: list[bytes] = field(default_factory=list)
    states: list[dict[str, int]] = field(default_factory=list)
    server: asyncio.Server | None = None
    port: int = 0
    clients: list[asyncio.StreamWriter] = field(default_factory=list)

    async def start(self, port: int = 0) -> None:
        """Listen on a free (or the given) loopback port."""
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop every connection."""
        if self.server is not None:
            self.server.close()
            for client in self.clients:
                client.close()
            self.clients.clear()
            await self.server.wait_closed()
            self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.clients.append(writer)
        try:
            while True:
                header = await reader.readexactly(6)
                product, command, spare, size = struct.unpack(">2scBH", header)
                data = await reader.readexactly(size)
                self.frames.append(header + data)
                assert (product, spare) == (b"AB", 0)
                if command == b"S" and size == 6:
                    state = dict(zip(LED_NAMES, data[:5], strict=True))
                    state["buzzer"] = data[5]
                    self.states.append(state)
                writer.write(bytes([self.answer]))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def light_for(tower: Tower, clock: ManualClock, **extra: object) -> PatliteStackLight:
    """Build a Patlite light pointed at the test tower."""
    config = PatliteLightConfig.model_validate({"type": "patlite", "host": "127.0.0.1", "port": tower.port, **extra})
    return PatliteStackLight(config, Connections(clock))


def test_pattern_becomes_exact_pns_bytes_and_is_acknowledged() -> None:
    """Green on: AB S 00 0006 then red..white, buzzer; flash and buzzer use the configured codes."""

    async def scenario() -> None:
        tower = Tower()
        await tower.start()
        clock = ManualClock(T0)
        light = light_for(tower, clock, flash_code=3, buzzer_pulse_code=2)
        try:
            await light.show(LightPattern(green="on"))
            await light.show(LightPattern(red="flash", yellow="on", buzzer="pulse"))
            await light.show(LightPattern(blue="on", white="flash", buzzer="on"))
        finally:
            await light.close()
            await tower.stop()
        assert [f.hex(" ") for f in tower.frames] == [
            "41 42 53 00 00 06 00 00 01 00 00 00",
            "41 42 53 00 00 06 03 01 00 00 00 02",
            "41 42 53 00 00 06 00 00 00 01 03 01",
        ]
        assert tower.states[1] == {"red": 3, "yellow": 1, "green": 0, "blue": 0, "white": 0, "buzzer": 2}
        assert light.written == LightPattern(blue="on", white="flash", buzzer="on")
        assert light.faults.current is None

    asyncio.run(scenario())


def test_writes_only_on_change_plus_refresh_and_fail_safe() -> None:
    """Same pattern again: nothing sent; after refresh_seconds: sent again; silent: fail-safe."""

    async def scenario() -> None:
        tower = Tower()
        await tower.start()
        clock = ManualClock(T0)
        light = light_for(tower, clock, refresh_seconds=5, fail_safe_after_seconds=12)
        try:
            await light.show(LightPattern(green="on"))
            clock.set(T0 + 1)
            await light.show(LightPattern(green="on"))
            clock.set(T0 + 4.9)
            await light.step()
            assert len(tower.frames) == 1
            clock.set(T0 + 5)
            await light.show(LightPattern(green="on"))
            assert len(tower.frames) == 2
            for second in (9.9, 10, 14.9, 15, 16.9):
                clock.set(T0 + second)
                await light.step()
            assert len(tower.frames) == 4
            clock.set(T0 + 17)
            await light.step()
        finally:
            await light.close()
            await tower.stop()
        green, fail_safe = "00 00 01 00 00 00", "00 02 00 00 00 00"
        assert [f[6:].hex(" ") for f in tower.frames] == [green, green, green, green, fail_safe]

    asyncio.run(scenario())


def test_nak_is_a_fault_logged_once_then_retried(caplog: pytest.LogCaptureFixture) -> None:
    """NAK: ERROR once, DEBUG on the retry, INFO when the tower accepts again."""
    caplog.set_level(logging.DEBUG, logger="devices")

    async def scenario() -> None:
        tower = Tower(answer=0x15)
        await tower.start()
        clock = ManualClock(T0)
        light = light_for(tower, clock, retry_seconds=2)
        try:
            await light.show(LightPattern(red="on"))
            assert light.written is None
            assert light.faults.current is not None and "(NAK)" in light.faults.current
            clock.set(T0 + 1)
            await light.step()
            assert len(tower.frames) == 1  # no retry before retry_seconds
            clock.set(T0 + 2)
            await light.step()
            assert len(tower.frames) == 2
            tower.answer = 0x06
            clock.set(T0 + 4)
            await light.step()
            assert light.written == LightPattern(red="on")
        finally:
            await light.close()
            await tower.stop()

    asyncio.run(scenario())
    records = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "devices"]
    assert [level for level, _ in records] == ["ERROR", "DEBUG", "INFO"]
    assert records[0][1].endswith("refused 41 42 53 00 00 06 01 00 00 00 00 00 (NAK)")


def test_tower_down_then_up_recovers_on_retry() -> None:
    """Nothing listening: unreachable fault; the tower comes up: the pattern arrives on retry."""

    async def scenario() -> None:
        tower = Tower()
        await tower.start()
        port = tower.port
        await tower.stop()
        clock = ManualClock(T0)
        light = light_for(tower, clock, retry_seconds=2)
        try:
            await light.show(LightPattern(green="on"))
            assert light.faults.current is not None
            assert "unreachable" in light.faults.current
            await tower.start(port)
            clock.set(T0 + 2)
            await light.step()
            assert light.faults.current is None
            # the tower restarts (power cycle): the next refresh reconnects and restores it
            await tower.stop()
            await tower.start(port)
            clock.set(T0 + 12)
            await light.step()  # the old connection is dead: fault, retried
            clock.set(T0 + 14)
            await light.step()
        finally:
            await light.close()
            await tower.stop()
        assert [f[6:].hex(" ") for f in tower.frames][-1] == "00 00 01 00 00 00"
        assert light.written == LightPattern(green="on")

    asyncio.run(scenario())
