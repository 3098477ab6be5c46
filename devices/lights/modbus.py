"""A stack light on Modbus TCP: one coil per lamp on an I/O module, or a Banner TL50-style register.

``layout: coils`` (Moxa ioLogik, Advantech ADAM style): one coil per colour and the buzzer,
switched by this driver, which also flashes them at ``flash_hz`` (an I/O module cannot flash).
Contiguous coils go in one Write Multiple Coils request.

``layout: banner_tl50``: one holding register (``address``), two bits per light segment, the tower flashes
itself: segment n (1..5) is steady with bit ``2*(5-n)`` and flashing with bit ``2*(5-n)+1``
(segment 5 = 1/2, segment 4 = 4/8, ... segment 1 = 256/512), as in Banner's bit-packed output
register. The buzzer, if wired, is a coil (``buzzer_coil``; pulse sounds steady there).
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from andon.config.bases import StackLightConfigBase
from andon.extras import PYMODBUS
from andon.lights import COLOURS, LightPattern, next_flash_edge, outputs_at
from devices.catalog import Driver
from devices.connections import Connections
from devices.links.modbus import ModbusHub
from devices.links.plc import PlcFault, PlcUnreachable
from devices.stack_light import StackLight, StackLightError

OutputName = Literal["red", "yellow", "green", "blue", "white", "buzzer"]
ColourName = Literal["red", "yellow", "green", "blue", "white"]


def _default_segments() -> dict[ColourName, int]:
    return {"red": 5, "yellow": 4, "green": 3, "blue": 2, "white": 1}


class ModbusLightConfig(StackLightConfigBase):
    """A stack light driven over Modbus TCP: coils per lamp, or a Banner TL50 bit-packed register."""

    reference_notes: ClassVar[str] = r"""
**Addressing.** Coil and register addresses are 0-based, as sent on the wire: coil 00001 in a manual
is `0`, holding register 40009 is `8`. With `layout: coils`, `coils: {red: 0, yellow: 1, green: 2,
buzzer: 3}` switches the first four coils of the module.
"""

    type: Literal["modbus"] = "modbus"
    host: str = Field(description="IP address or name of the I/O module or tower gateway.")
    port: int = Field(default=502, ge=1, le=65535, description="Modbus TCP port.")
    unit: int = Field(default=1, ge=0, le=255, description="Modbus unit (device) id.")
    layout: Literal["coils", "banner_tl50"] = Field(
        default="coils", description="coils: one coil per output; banner_tl50: bit-packed register."
    )
    coils: dict[OutputName, int] = Field(
        default_factory=dict,
        description="layout coils: zero-based coil address per colour and for the buzzer.",
    )
    address: int = Field(default=8, ge=0, le=65535, description="layout banner_tl50: zero-based holding register.")
    segments: dict[ColourName, int] = Field(
        default_factory=_default_segments,
        description="layout banner_tl50: light segment number (1-5) of each colour.",
    )
    buzzer_coil: int | None = Field(
        default=None, ge=0, description="layout banner_tl50: coil switching a buzzer, if any."
    )
    flash_hz: float = Field(default=1.0, gt=0, le=5, description="layout coils: flash rate made by this driver.")
    timeout_seconds: float = Field(default=2.0, gt=0, description="Request timeout.")

    @model_validator(mode="after")
    def _layout_keys(self) -> ModbusLightConfig:
        if self.layout == "coils":
            if not self.coils:
                raise ValueError("layout coils needs `coils`: an address per colour")
            if len(set(self.coils.values())) != len(self.coils):
                raise ValueError("two outputs share one coil")
        else:
            if self.coils:
                raise ValueError("`coils` is for layout coils; banner_tl50 uses `address`")
            numbers = list(self.segments.values())
            if any(n < 1 or n > 5 for n in numbers) or len(set(numbers)) != len(numbers):
                raise ValueError("segments must be distinct numbers 1 to 5")
        return self


def banner_tl50_value(pattern: LightPattern, segments: Mapping[ColourName, int]) -> int:
    """Return the bit-packed register value of a pattern (steady and flash bit per segment)."""
    value = 0
    for colour in COLOURS:
        segment = segments.get(colour)
        lamp = pattern.lamp(colour)
        if segment is None or lamp == "off":
            continue
        shift = 2 * (5 - segment) + (1 if lamp == "flash" else 0)
        value |= 1 << shift
    return value


def coil_runs(levels: dict[int, bool]) -> list[tuple[int, list[bool]]]:
    """Group coil levels into runs of contiguous addresses, one write request each."""
    runs: list[tuple[int, list[bool]]] = []
    for address in sorted(levels):
        if runs and runs[-1][0] + len(runs[-1][1]) == address:
            runs[-1][1].append(levels[address])
        else:
            runs.append((address, [levels[address]]))
    return runs


class ModbusStackLight(StackLight):
    """Write coils (flashed by this driver) or a Banner TL50 register through the hub of its host:port.

    The hub is the one Modbus sources on the same host:port use, so a light and a counter on one PLC
    share one TCP connection and take turns on it.
    """

    libraries = (PYMODBUS,)

    config: ModbusLightConfig

    def __init__(self, config: ModbusLightConfig, connections: Connections) -> None:
        super().__init__(config, connections)
        self.hub: ModbusHub | None = None
        self._pattern: LightPattern | None = None
        self._levels: dict[int, bool] | None = None

    def describe(self) -> str:
        """Say which module this is."""
        c = self.config
        return c.id or f"modbus {c.host}:{c.port} unit {c.unit} ({c.layout})"

    def _attached(self) -> ModbusHub:
        if self.hub is None:
            c = self.config
            # A light alone on its module retries every retry_seconds, as the light's loop asks.
            self.hub = ModbusHub.attach(
                self.connections.modbus, self.connections.clock, c.host, c.port, timeout=c.timeout_seconds,
                retry_min=c.retry_seconds, retry_max=c.retry_seconds,
            )
        return self.hub

    async def _request(self, what: str, write: Awaitable[None]) -> None:
        try:
            await write
        except PlcUnreachable as exc:
            raise StackLightError(f"{what} failed: PLC {self.config.host}:{self.config.port} unreachable") from exc
        except PlcFault as exc:
            raise StackLightError(str(exc)) from exc

    async def _write_coils(self, levels: dict[int, bool]) -> None:
        hub = self._attached()
        unit = self.config.unit
        for address, values in coil_runs(levels):
            if len(values) == 1:
                await self._request(f"write coil {address}", hub.write_coil(address, values[0], unit))
            else:
                await self._request(
                    f"write coils {address}-{address + len(values) - 1}", hub.write_coils(address, values, unit)
                )
        self._levels = levels

    def _coil_levels(self, now: float) -> dict[int, bool]:
        pattern = self._pattern or LightPattern()
        outputs = outputs_at(pattern, now - self.changed_at, self.config.flash_hz)
        return {address: outputs[name] for name, address in self.config.coils.items()}

    async def write(self, pattern: LightPattern) -> None:
        """Write the whole pattern: every coil, or the register (and the buzzer coil)."""
        self._pattern = pattern
        if self.config.layout == "coils":
            await self._write_coils(self._coil_levels(self.clock.now()))
            return
        c = self.config
        value = banner_tl50_value(pattern, c.segments)
        await self._request(f"write register {c.address}", self._attached().write_register(c.address, value, c.unit))
        if c.buzzer_coil is not None:
            await self._write_coils({c.buzzer_coil: pattern.buzzer != "off"})

    async def animate(self, now: float) -> None:
        """Coils layout: write the coils whose flash phase changed."""
        if self.config.layout != "coils" or self._pattern is None or not self._pattern.animated:
            return
        levels = self._coil_levels(now)
        changed = {a: v for a, v in levels.items() if self._levels is None or self._levels[a] != v}
        if not changed:
            return
        try:
            await self._write_coils(changed)
        except StackLightError as exc:
            self._levels = None
            self.faults.fault(str(exc))
            return
        self._levels = levels

    def next_animation_at(self, now: float) -> float | None:
        """Coils layout: the next flash edge, if anything flashes."""
        if self.config.layout != "coils" or self._pattern is None or not self._pattern.animated:
            return None
        return self.changed_at + next_flash_edge(now - self.changed_at, self.config.flash_hz)

    async def close(self) -> None:
        """Give the hub back (the last user of the host:port closes the connection)."""
        hub, self.hub = self.hub, None
        if hub is not None:
            await hub.detach()


DRIVER = Driver("modbus", ModbusLightConfig, ModbusStackLight)
