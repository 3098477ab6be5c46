"""A Patlite network signal tower (LR5-LAN, LA6-POE, NHL...) over the PNS protocol on TCP.

The operation control command is ten bytes: product category ``AB``, command ``S``, a spare
0x00, the data size 6 as a big-endian 16-bit number, then one byte each for the red, amber,
green, blue and white LED units and the buzzer. LED bytes: 0 off, 1 on, 2-4 blinking
(slow, medium, high), 5-7 flashing (single, double, triple), 9 no change. Buzzer byte: 0 stop,
1 ring (towers with buzzer patterns take more codes). The tower answers one byte: 0x06 (ACK)
or 0x15 (NAK). The tower flashes its lamps itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Literal

from pydantic import Field

from andon.config.bases import StackLightConfigBase
from andon.lights import COLOURS, LightPattern
from devices.catalog import Driver
from devices.connections import Connections
from devices.stack_light import StackLight, StackLightError

PNS_PRODUCT = b"AB"
PNS_RUN_CONTROL = b"S"
PNS_ACK = 0x06
PNS_NAK = 0x15
LED_OFF, LED_ON = 0x00, 0x01
BUZZER_STOP = 0x00


class PatliteLightConfig(StackLightConfigBase):
    """A Patlite tower reached over Ethernet (PNS protocol)."""

    type: Literal["patlite"] = "patlite"
    host: str = Field(description="IP address or name of the tower.")
    port: int = Field(default=10000, ge=1, le=65535, description="PNS TCP port of the tower.")
    timeout_seconds: float = Field(
        default=2.0, gt=0, description="Give up on connecting or on the tower's answer after this."
    )
    flash_code: Literal[2, 3, 4, 5, 6, 7] = Field(
        default=2,
        description="LED code used for flash: 2-4 blinking slow/medium/high, 5-7 flashing single/double/triple.",
    )
    buzzer_on_code: int = Field(default=1, ge=1, le=11, description="Buzzer code for a steady buzzer (1: ring).")
    buzzer_pulse_code: int = Field(
        default=1,
        ge=1,
        le=11,
        description="Buzzer code for a pulsing buzzer; the LR5-LAN knows only 1 (ring), towers "
        "with buzzer patterns take 2-11.",
    )


def run_control_command(pattern: LightPattern, config: PatliteLightConfig) -> bytes:
    """Return the PNS operation control command bytes for a pattern."""
    codes = {"off": LED_OFF, "on": LED_ON, "flash": config.flash_code}
    buzzer = {"off": BUZZER_STOP, "on": config.buzzer_on_code, "pulse": config.buzzer_pulse_code}
    data = bytes([*(codes[pattern.lamp(c)] for c in COLOURS), buzzer[pattern.buzzer]])
    return PNS_PRODUCT + PNS_RUN_CONTROL + b"\x00" + struct.pack(">H", len(data)) + data


class PatliteStackLight(StackLight):
    """Send the whole pattern in one PNS command over a kept-open connection; check the ACK."""

    config: PatliteLightConfig

    def __init__(self, config: PatliteLightConfig, connections: Connections) -> None:
        super().__init__(config, connections)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    def describe(self) -> str:
        """Say which tower this is."""
        return self.config.id or f"patlite {self.config.host}:{self.config.port}"

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.config.host, self.config.port),
                    self.config.timeout_seconds,
                )
            except (OSError, TimeoutError) as exc:
                raise StackLightError(
                    f"tower {self.config.host}:{self.config.port} unreachable ({exc or 'timeout'})"
                ) from exc
            self._reader, self._writer = reader, writer
        return self._reader, self._writer

    async def write(self, pattern: LightPattern) -> None:
        """Send the operation control command and wait for ACK; raise on NAK or silence."""
        reader, writer = await self._connect()
        command = run_control_command(pattern, self.config)
        try:
            writer.write(command)
            await writer.drain()
            answer = await asyncio.wait_for(reader.readexactly(1), self.config.timeout_seconds)
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            await self.close()
            reason = "no answer" if isinstance(exc, TimeoutError) else f"connection lost ({exc})"
            raise StackLightError(f"tower {self.config.host}:{self.config.port}: {reason}") from exc
        if answer[0] == PNS_ACK:
            return
        await self.close()  # resynchronise: a fresh connection after anything but ACK
        if answer[0] == PNS_NAK:
            raise StackLightError(f"tower {self.config.host}:{self.config.port} refused {command.hex(' ')} (NAK)")
        raise StackLightError(f"tower {self.config.host}:{self.config.port} answered 0x{answer[0]:02x}, not ACK")

    async def close(self) -> None:
        """Close the connection to the tower."""
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


DRIVER = Driver("patlite", PatliteLightConfig, PatliteStackLight)
