"""GPIO stack light on gpiozero's mock pins: pin levels and their timing on a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory

from andon.clock import ManualClock
from andon.lights import LightPattern
from devices.connections import Connections
from devices.lights.gpio import GpioLightConfig, GpioStackLight
from tests.devices.polling import advance, cancel, idle

PINS = {"red": 17, "yellow": 27, "green": 22, "blue": 23, "white": 24, "buzzer": 25}
T0 = 1_800_000_000.0


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    """A mock pin factory, reset after the test."""
    pins = MockFactory()
    try:
        yield pins
    finally:
        pins.reset()


def make_light(factory: MockFactory, clock: ManualClock, **extra: object) -> GpioStackLight:
    """Build a GPIO light on the mock pins with the test clock."""
    config = GpioLightConfig.model_validate({"type": "gpio", "pins": PINS, **extra})
    return GpioStackLight(config, Connections(clock, pin_factory=factory))


def levels(factory: MockFactory) -> dict[str, bool]:
    """Read every mock pin's electrical level."""
    return {name: bool(factory.pin(pin).state) for name, pin in PINS.items()}


def timeline(
    light: GpioStackLight, clock: ManualClock, factory: MockFactory, until: float, step: float
) -> list[tuple[float, dict[str, bool]]]:
    """Step the fake clock; return (elapsed, levels) at each change of any pin."""
    changes: list[tuple[float, dict[str, bool]]] = []
    start = clock.now()
    last: dict[str, bool] | None = None
    ticks = round(until / step)
    for i in range(ticks + 1):
        clock.set(start + i * step)
        asyncio.run(light.step())
        now = levels(factory)
        if now != last:
            changes.append((round(i * step, 3), now))
            last = now
    return changes


def only(*names: str) -> dict[str, bool]:
    """Return pin levels with just ``names`` high."""
    return {name: name in names for name in PINS}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (LightPattern(), only()),
        (LightPattern(green="on"), only("green")),
        (LightPattern(yellow="on"), only("yellow")),
        (LightPattern(red="on"), only("red")),
        (LightPattern(blue="on", white="on"), only("blue", "white")),
        (LightPattern(red="on", buzzer="on"), only("red", "buzzer")),
    ],
)
def test_steady_patterns_set_pins_and_stay(
    factory: MockFactory, pattern: LightPattern, expected: dict[str, bool]
) -> None:
    """Steady patterns set the pins at once and nothing moves for 10 s."""
    clock = ManualClock(T0)
    light = make_light(factory, clock)
    asyncio.run(light.show(pattern))
    assert levels(factory) == expected
    assert timeline(light, clock, factory, until=10.0, step=0.1) == [(0.0, expected)]
    asyncio.run(light.close())


def test_flashing_yellow_toggles_every_half_second_at_1_hz(factory: MockFactory) -> None:
    """Flash at 1 Hz: on at once, off at 0.5 s, on at 1.0 s, with green steady throughout."""
    clock = ManualClock(T0)
    light = make_light(factory, clock)
    asyncio.run(light.show(LightPattern(green="on", yellow="flash")))
    changes = timeline(light, clock, factory, until=2.0, step=0.05)
    assert changes == [
        (0.0, only("green", "yellow")),
        (0.5, only("green")),
        (1.0, only("green", "yellow")),
        (1.5, only("green")),
        (2.0, only("green", "yellow")),
    ]
    asyncio.run(light.close())


def test_red_flash_and_buzzer_pulse_share_one_phase_at_2_hz(factory: MockFactory) -> None:
    """At 2 Hz red and buzzer go together, 0.25 s on, 0.25 s off."""
    clock = ManualClock(T0)
    light = make_light(factory, clock, flash_hz=2.0)
    asyncio.run(light.show(LightPattern(red="flash", buzzer="pulse")))
    changes = timeline(light, clock, factory, until=1.0, step=0.05)
    assert changes == [
        (0.0, only("red", "buzzer")),
        (0.25, only()),
        (0.5, only("red", "buzzer")),
        (0.75, only()),
        (1.0, only("red", "buzzer")),
    ]


def test_step_says_when_the_next_flash_edge_is_due(factory: MockFactory) -> None:
    """The run loop sleeps exactly until the next edge (no busy loop)."""
    clock = ManualClock(T0)
    light = make_light(factory, clock)
    asyncio.run(light.show(LightPattern(yellow="flash")))
    clock.advance(0.2)
    assert asyncio.run(light.step()) == pytest.approx(0.3)
    asyncio.run(light.show(LightPattern(green="on")))
    clock.advance(1.0)
    assert asyncio.run(light.step()) == pytest.approx(9.0)  # refresh_seconds 10 after the write


def test_relay_board_active_low_inverts_pin_levels(factory: MockFactory) -> None:
    """active_high false drives the pin low to switch a lamp on."""
    clock = ManualClock(T0)
    light = make_light(factory, clock, active_high=False)
    asyncio.run(light.show(LightPattern(green="on")))
    assert levels(factory) == {name: name != "green" for name in PINS}


def test_before_any_state_and_after_silence_it_shows_fail_safe(factory: MockFactory) -> None:
    """No state yet: fail-safe; state arrives: shown; silent for 15 s: fail-safe again."""
    clock = ManualClock(T0)
    light = make_light(factory, clock, fail_safe={"red": "on", "white": "flash"})
    asyncio.run(light.step())
    assert levels(factory) == only("red", "white")
    asyncio.run(light.show(LightPattern(green="on")))
    assert levels(factory) == only("green")
    clock.set(T0 + 14.9)
    asyncio.run(light.step())
    assert levels(factory) == only("green")
    clock.set(T0 + 15.0)
    asyncio.run(light.step())
    assert levels(factory) == only("red", "white")
    assert light.written == LightPattern(red="on", white="flash")


def test_close_switches_everything_off(factory: MockFactory) -> None:
    """Closing the light leaves all pins off and released."""
    clock = ManualClock(T0)
    light = make_light(factory, clock)
    asyncio.run(light.show(LightPattern(red="on", buzzer="on")))
    asyncio.run(light.close())
    assert levels(factory) == only()


def test_two_outputs_on_one_pin_is_refused() -> None:
    """A config that wires two lamps to one pin fails validation with a clear message."""
    with pytest.raises(ValueError, match="two outputs share one pin"):
        GpioLightConfig.model_validate({"type": "gpio", "pins": {"red": 17, "green": 17}})


def test_run_loop_waits_on_the_clock(factory: MockFactory) -> None:
    """Run as a task, the light flashes red at 1 Hz as the clock moves (an edge each 0.5 s) and waits between."""
    clock = ManualClock(T0)
    light = make_light(factory, clock)
    seen: list[tuple[float, bool]] = []

    async def scenario() -> None:
        task = asyncio.create_task(light.run())
        try:
            await idle(clock, task)
            await light.show(LightPattern(red="flash"))
            await idle(clock, task)
            assert clock.next_deadline() == T0 + 0.5  # asleep until the first flash edge
            for _ in range(4):
                seen.append((clock.now() - T0, levels(factory)["red"]))
                await advance(clock, 0.5, task)
        finally:
            await cancel(task)

    asyncio.run(scenario())
    assert seen == [(0.0, True), (0.5, False), (1.0, True), (1.5, False)]
    assert not any(levels(factory).values())  # stopped: every pin off
