"""Counts from a sensor or switch wired to a Raspberry Pi GPIO input: one part per edge."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from andon.config.bases import SourceConfigBase
from andon.extras import GPIOZERO
from devices.base import CountSource, ReadingSink
from devices.catalog import Driver
from devices.connections import Connections

log = logging.getLogger(__name__)


class GpioSourceConfig(SourceConfigBase):
    """A pulse input on a GPIO pin; each counted edge is a reading of 1 (increment or pulse)."""

    reference_notes: ClassVar[str] = r"""
**Addressing.** `pin` is the Broadcom (BCM) GPIO number, not the pin's place on the 40-pin header:
GPIO17 is header pin 11, so `pin: 17`. Inputs take 3.3 V only: a 24 V sensor needs an
opto-isolated input board.
"""

    type: Literal["gpio"] = "gpio"
    pin: int = Field(..., ge=0, le=53, description="BCM GPIO number, e.g. 17 for GPIO17.")
    pull_up: bool | None = Field(
        False,
        description="true: internal pull-up (input active when pulled low); false: pull-down "
        "(active when high); null: no internal pull, an external resistor (set active_state).",
    )
    active_state: bool | None = Field(
        None,
        description="With pull_up null only: true when a high level means active, false when low.",
    )
    bounce_seconds: float = Field(
        0.02,
        ge=0,
        description="Edges closer than this to the last counted edge are contact chatter.",
    )
    edge: Literal["rising", "falling"] = Field(
        "rising", description="Electrical edge that counts: rising (low to high) or falling."
    )
    retry_seconds: float = Field(
        5.0, gt=0, description="Wait between attempts to claim the pin when it is unavailable."
    )

    @model_validator(mode="after")
    def _check_pin_wiring(self) -> GpioSourceConfig:
        if self.pull_up is None and self.active_state is None:
            raise ValueError("pull_up is null (external resistor): set active_state true or false")
        if self.pull_up is not None and self.active_state is not None:
            raise ValueError("active_state is only for pull_up: null; with an internal pull it follows pull_up")
        if self.mode == "cumulative":
            raise ValueError("a gpio source sends 1 per edge: use mode increment or pulse")
        return self

    @property
    def active_high(self) -> bool:
        """Whether a high level is the active state."""
        if self.pull_up is None:
            return bool(self.active_state)
        return not self.pull_up


class GpioPulseSource(CountSource):
    """Count debounced edges on one GPIO input, timed by the context's clock."""

    libraries = (GPIOZERO,)

    config: GpioSourceConfig

    def __init__(self, config: GpioSourceConfig, sink: ReadingSink, connections: Connections) -> None:
        super().__init__(config, sink, connections)
        self.accepted = 0
        self.bounced = 0
        self.device: Any = None
        self._last_edge: float | None = None
        self._lock = threading.Lock()

    async def run(self) -> None:
        """Watch the pin until cancelled; claim it again if it cannot be had at first."""
        c = self.config
        is_offline = False
        while self.device is None:
            try:
                self.device = self._open()
            except Exception as exc:  # gpiozero raises many kinds: no GPIO chip, pin in use, ...
                if not is_offline:
                    log.error("GPIO%d unavailable: %s", c.pin, exc)
                    self.sink.offline(f"GPIO{c.pin} unavailable: {exc}")
                    is_offline = True
                else:
                    log.debug("GPIO%d still unavailable: %s", c.pin, exc)
                await self.connections.clock.sleep(c.retry_seconds)
        if is_offline:
            log.info("GPIO%d is available again", c.pin)
        self.sink.online()
        try:
            await asyncio.Event().wait()
        finally:
            device, self.device = self.device, None
            device.close()

    def _open(self) -> Any:
        """Claim the pin as an input and hook the counted edge."""
        from gpiozero import DigitalInputDevice  # lazily: gpiozero is an optional extra

        c = self.config
        device = DigitalInputDevice(
            c.pin,
            pull_up=c.pull_up,
            active_state=c.active_state,
            bounce_time=None,  # debounced here, on the injected clock, the same on every backend
            pin_factory=self.connections.pin_factory,
        )
        counts_on_activation = (c.edge == "rising") == c.active_high
        if counts_on_activation:
            device.when_activated = self.edge
        else:
            device.when_deactivated = self.edge
        return device

    def edge(self) -> None:
        """Count one edge unless it follows the last counted edge within the bounce window."""
        now = self.connections.clock.now()
        with self._lock:
            last = self._last_edge
            if last is not None and 0 <= now - last < self.config.bounce_seconds:
                self.bounced += 1
                log.debug(
                    "GPIO%d: edge %.4f s after the last one dropped as chatter",
                    self.config.pin,
                    now - last,
                )
                return
            self._last_edge = now
            self.accepted += 1
        self.sink.reading(1, ts=now)

    def describe(self) -> str:
        """Say which pin and edge this source counts."""
        return f"GPIO{self.config.pin} {self.config.edge} edges"


DRIVER = Driver("gpio", GpioSourceConfig, GpioPulseSource)
