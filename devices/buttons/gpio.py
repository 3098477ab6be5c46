"""An andon button on a GPIO pin, debounced here on the injected clock.

A short press raises the call of its station and category. Acknowledging is a long press
(held ``long_press_seconds``) or a press of the second button on ``ack_pin``; ``resolve_pin``
resolves. With long press on, a short press raises on release (so a long press never raises);
with ``long_press_seconds: null`` it raises as soon as the press is steady. A held-down or
chattering button gives one action per steady press.
"""

from __future__ import annotations

import collections
from typing import Any, Literal

from pydantic import Field, model_validator

from andon.config.bases import ButtonConfigBase
from andon.extras import GPIOZERO
from devices.andon_button import AndonActions, AndonButton
from devices.catalog import Driver
from devices.connections import Connections

# Epoch seconds as floats resolve about 0.25 us; a limit this close counts as reached.
_TOLERANCE = 1e-6


class GpioButtonConfig(ButtonConfigBase):
    """A push button (to ground, with the pull-up on) on a Raspberry Pi GPIO pin."""

    type: Literal["gpio"] = "gpio"
    pin: int | str = Field(description="GPIO pin of the andon button, e.g. 5 or 'GPIO5'.")
    station: str = Field(description="Station the button raises calls for.")
    category: str = Field(description="Andon category the button raises, e.g. quality.")
    ack_pin: int | str | None = Field(default=None, description="Pin of an acknowledge button.")
    resolve_pin: int | str | None = Field(default=None, description="Pin of a resolve button.")
    pull_up: bool = Field(default=True, description="True: button switches to ground (pressed = low).")
    bounce_seconds: float = Field(
        default=0.05, ge=0, le=1, description="A level counts once it held this long (debounce)."
    )
    long_press_seconds: float | None = Field(
        default=2.0, gt=0, description="Holding this long acknowledges; null turns long press off."
    )
    poll_seconds: float = Field(default=0.01, gt=0, le=0.5, description="Check inputs this often.")

    @model_validator(mode="after")
    def _distinct_pins(self) -> GpioButtonConfig:
        pins = [str(p) for p in (self.pin, self.ack_pin, self.resolve_pin) if p is not None]
        if len(set(pins)) != len(pins):
            raise ValueError("pin, ack_pin and resolve_pin must be different pins")
        return self


class Debouncer:
    """Debounce one input: a new level counts once it held for ``bounce`` seconds.

    Edges arrive from any thread with their clock time; ``poll`` turns them into steady
    changes, each stamped with the time its level began.
    """

    def __init__(self, bounce: float, level: bool = False) -> None:
        self.bounce = bounce
        self.stable = level
        self._raw = level
        self._raw_since = float("-inf")
        self._edges: collections.deque[tuple[float, bool]] = collections.deque()

    def edge(self, level: bool, at: float) -> None:
        """Record a raw level change (thread-safe)."""
        self._edges.append((at, level))

    def poll(self, now: float) -> list[tuple[bool, float]]:
        """Return the steady changes up to ``now`` as (level, since)."""
        changes: list[tuple[bool, float]] = []
        while self._edges:
            at, level = self._edges.popleft()
            self._settle(at, changes)
            if level != self._raw:
                self._raw, self._raw_since = level, at
        self._settle(now, changes)
        return changes

    def _settle(self, t: float, changes: list[tuple[bool, float]]) -> None:
        if self._raw != self.stable and t - self._raw_since >= self.bounce - _TOLERANCE:
            self.stable = self._raw
            changes.append((self.stable, self._raw_since))


class GpioAndonButton(AndonButton):
    """Turn steady presses on the pins into raise, acknowledge and resolve."""

    libraries = (GPIOZERO,)

    config: GpioButtonConfig

    def __init__(self, config: GpioButtonConfig, line: str, actions: AndonActions, connections: Connections) -> None:
        super().__init__(config, line, actions, connections)
        self._devices: dict[str, Any] = {}
        self._inputs: dict[str, Debouncer] = {}
        self._pressed_at: float | None = None
        self._long_done = False

    def describe(self) -> str:
        """Say which pin this button is on."""
        return self.config.id or f"gpio pin {self.config.pin}"

    def open(self) -> None:
        """Claim the pins and start recording edges."""
        if self._devices:
            return
        from gpiozero import DigitalInputDevice

        factory = self.connections.pin_factory
        pins = {"main": self.config.pin, "ack": self.config.ack_pin, "resolve": self.config.resolve_pin}
        try:
            for role, pin in pins.items():
                if pin is None:
                    continue
                device = DigitalInputDevice(pin, pull_up=self.config.pull_up, bounce_time=None, pin_factory=factory)
                debouncer = Debouncer(self.config.bounce_seconds, bool(device.is_active))
                device.when_activated = self._recorder(debouncer, True)
                device.when_deactivated = self._recorder(debouncer, False)
                self._devices[role] = device
                self._inputs[role] = debouncer
        except Exception:
            self.close()
            raise

    def _recorder(self, debouncer: Debouncer, level: bool) -> Any:
        def record() -> None:
            debouncer.edge(level, self.clock.now())

        return record

    def poll(self) -> list[str]:
        """Return the actions the steady presses up to now ask for, in order."""
        now = self.clock.now()
        long_press = self.config.long_press_seconds
        actions: list[str] = []
        for pressed, since in self._inputs["main"].poll(now) if "main" in self._inputs else []:
            if pressed:
                self._pressed_at, self._long_done = since, False
                if long_press is None:
                    actions.append("raise")
            elif self._pressed_at is not None:
                if long_press is not None and not self._long_done:
                    held = since - self._pressed_at
                    actions.append("acknowledge" if held >= long_press - _TOLERANCE else "raise")
                self._pressed_at = None
        if (
            long_press is not None
            and self._pressed_at is not None
            and not self._long_done
            and now - self._pressed_at >= long_press - _TOLERANCE
        ):
            self._long_done = True
            actions.append("acknowledge")
        for role, action in (("ack", "acknowledge"), ("resolve", "resolve")):
            if role in self._inputs:
                actions.extend(action for pressed, _ in self._inputs[role].poll(now) if pressed)
        return actions

    def step(self) -> list[str]:
        """Poll and perform the actions now (in this thread); return what was asked for."""
        actions = self.poll()
        for action in actions:
            self.perform(action, self.config.station, self.config.category)
        return actions

    async def run(self) -> None:
        """Poll the pins until cancelled; the andon service is called from a worker thread."""
        self.open()
        try:
            while True:
                for action in self.poll():
                    await self.perform_async(action, self.config.station, self.config.category)
                await self.clock.sleep(self.config.poll_seconds)
        finally:
            self.close()

    def close(self) -> None:
        """Release the pins."""
        for device in self._devices.values():
            device.close()
        self._devices.clear()
        self._inputs.clear()


DRIVER = Driver("gpio", GpioButtonConfig, GpioAndonButton)
