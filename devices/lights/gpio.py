"""A stack light on Raspberry Pi GPIO pins (LEDs or a relay board), flashed by this driver."""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import Field, field_validator

from andon.config.bases import StackLightConfigBase
from andon.extras import GPIOZERO
from andon.lights import LightPattern, next_flash_edge, outputs_at
from devices.catalog import Driver
from devices.connections import Connections
from devices.stack_light import StackLight

log = logging.getLogger(__name__)


class GpioLightConfig(StackLightConfigBase):
    """Lamps and buzzer wired to GPIO pins, one pin each; colours without a pin are absent."""

    type: Literal["gpio"] = "gpio"
    pins: dict[Literal["red", "yellow", "green", "blue", "white", "buzzer"], int | str] = Field(
        description="GPIO pin per colour and for the buzzer, e.g. {red: 17, yellow: 27, green: 22}."
    )
    active_high: bool = Field(default=True, description="False for relay boards that switch on when the pin is low.")
    flash_hz: float = Field(
        default=1.0,
        gt=0,
        le=5,
        description="Flash rate of lamps and buzzer pulses (IEC 60073: about 0.4 to 2 Hz), 50% duty.",
    )

    @field_validator("pins")
    @classmethod
    def _distinct(cls, pins: dict[str, int | str]) -> dict[str, int | str]:
        if not pins:
            raise ValueError("give at least one pin")
        used = [str(p) for p in pins.values()]
        if len(set(used)) != len(used):
            raise ValueError("two outputs share one pin")
        return pins


class GpioStackLight(StackLight):
    """Drive one gpiozero output per lamp; flashing is timed from the injected clock."""

    libraries = (GPIOZERO,)

    config: GpioLightConfig

    def __init__(self, config: GpioLightConfig, connections: Connections) -> None:
        super().__init__(config, connections)
        self._outputs: dict[str, Any] | None = None
        self._pattern: LightPattern | None = None
        self._missing_warned: set[str] = set()

    def describe(self) -> str:
        """Say which pins this light uses."""
        pins = ", ".join(f"{name} {pin}" for name, pin in self.config.pins.items())
        return self.config.id or f"gpio ({pins})"

    def _devices(self) -> dict[str, Any]:
        if self._outputs is None:
            from gpiozero import DigitalOutputDevice

            factory = self.connections.pin_factory
            outputs: dict[str, Any] = {}
            try:
                for name, pin in self.config.pins.items():
                    outputs[name] = DigitalOutputDevice(
                        pin,
                        active_high=self.config.active_high,
                        initial_value=False,
                        pin_factory=factory,
                    )
            except Exception:
                for device in outputs.values():
                    device.close()
                raise
            self._outputs = outputs
        return self._outputs

    def levels(self, now: float) -> dict[str, bool]:
        """Return the level every output should have at ``now`` (True: lamp lit, buzzer sounding)."""
        pattern = self._pattern or LightPattern()
        return outputs_at(pattern, now - self.changed_at, self.config.flash_hz)

    def _set(self, now: float) -> None:
        outputs = self._devices()
        for name, level in self.levels(now).items():
            device = outputs.get(name)
            if device is None:
                if level and name not in self._missing_warned:
                    self._missing_warned.add(name)
                    log.warning("%s: pattern asks for %s, which has no pin", self.describe(), name)
                continue
            if bool(device.value) != level:
                device.value = level

    async def write(self, pattern: LightPattern) -> None:
        """Set every pin for the pattern (flashing outputs at their current phase)."""
        self._pattern = pattern
        self._set(self.clock.now())

    async def animate(self, now: float) -> None:
        """Turn flashing outputs on or off for the current flash phase."""
        if self._pattern is not None and self._pattern.animated:
            self._set(now)

    def next_animation_at(self, now: float) -> float | None:
        """Return the time of the next flash edge, if anything flashes."""
        if self._pattern is None or not self._pattern.animated:
            return None
        return self.changed_at + next_flash_edge(now - self.changed_at, self.config.flash_hz)

    async def close(self) -> None:
        """Switch everything off and release the pins."""
        if self._outputs is not None:
            for device in self._outputs.values():
                try:
                    device.off()
                finally:
                    device.close()
            self._outputs = None


DRIVER = Driver("gpio", GpioLightConfig, GpioStackLight)
