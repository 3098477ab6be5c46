"""The GPIO pulse source on gpiozero's mock pins, timed by a manual clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from gpiozero import DigitalInputDevice
from gpiozero.pins.mock import MockFactory, MockPin
from pydantic import ValidationError

from andon.clock import ManualClock
from devices.catalog import sources
from devices.connections import Connections
from devices.sources.gpio_pulse import GpioPulseSource, GpioSourceConfig
from tests.conftest import RecordingSink
from tests.devices.polling import advance, cancel, eventually, stepping

T0 = 1_700_000_000.0


def make_source(factory: MockFactory, clock: ManualClock, **keys: Any) -> tuple[GpioPulseSource, RecordingSink]:
    """Build a GPIO source on pin 17 of a mock factory."""
    config = GpioSourceConfig.model_validate({"pin": 17, "retry_seconds": 0.02, **keys})
    sink = RecordingSink()
    context = Connections(clock, pin_factory=factory)
    return GpioPulseSource(config, sink, context), sink


def run_with(
    source: GpioPulseSource, scenario: Callable[[asyncio.Task[None]], Awaitable[None]], *, claimed: bool = True
) -> None:
    """Run the source as a task (until it has claimed its pin), play ``scenario``, cancel it."""

    async def main() -> None:
        task = asyncio.create_task(source.run())
        try:
            if claimed:
                await eventually(lambda: source.device is not None, task)
            await scenario(task)
        finally:
            await cancel(task)

    asyncio.run(main())


def play(pin: MockPin, clock: ManualClock, steps: list[tuple[float, bool]]) -> None:
    """Drive the pin to each level at its time (seconds after T0)."""
    for offset, level in steps:
        clock.set(T0 + offset)
        if level:
            pin.drive_high()
        else:
            pin.drive_low()


# A press with contact chatter: bounces inside 20 ms of the counted edge are dropped.
CHATTER = [
    (1.000, True),
    (1.004, False),
    (1.008, True),  # chatter
    (1.012, False),
    (1.019, True),  # chatter, 19 ms after the counted edge
    (1.300, False),
    (2.000, True),
    (2.001, False),
    (2.002, True),  # chatter
    (2.500, False),
    (2.530, True),  # 530 ms after the last counted edge: a real part
    (2.600, False),
]


def test_rising_edges_counted_and_chatter_dropped() -> None:
    factory = MockFactory()
    clock = ManualClock(T0)
    source, sink = make_source(factory, clock)

    async def scenario(task: asyncio.Task[None]) -> None:
        play(factory.pin(17), clock, CHATTER)

    run_with(source, scenario)
    assert sink.values() == [1, 1, 1]
    assert [r["ts"] for r in sink.readings] == [T0 + 1.0, T0 + 2.0, T0 + 2.53]
    assert (source.accepted, source.bounced) == (3, 3)
    assert sink.events == [("online", "")]


def test_falling_edges_with_pull_up() -> None:
    factory = MockFactory()
    clock = ManualClock(T0)
    source, sink = make_source(factory, clock, pull_up=True, edge="falling", bounce_seconds=0.05)

    async def scenario(task: asyncio.Task[None]) -> None:
        pin = factory.pin(17)
        assert pin.state is True  # the pull-up holds the idle input high
        inverted = [(t, not level) for t, level in CHATTER]
        play(pin, clock, inverted)

    run_with(source, scenario)
    # 50 ms window: the edge at 2.530 is 530 ms after 2.000 and still counts.
    assert [r["ts"] for r in sink.readings] == [T0 + 1.0, T0 + 2.0, T0 + 2.53]
    assert source.bounced == 3


def test_rising_edge_on_active_low_input_with_external_pull() -> None:
    factory = MockFactory()
    clock = ManualClock(T0)
    source, sink = make_source(factory, clock, pull_up=None, active_state=False, edge="rising")

    async def scenario(task: asyncio.Task[None]) -> None:
        pin = factory.pin(17)
        play(pin, clock, [(0.5, False), (1.0, True), (1.5, False), (3.0, True), (3.01, False)])

    run_with(source, scenario)
    assert [r["ts"] for r in sink.readings] == [T0 + 1.0, T0 + 3.0]
    assert source.device is None  # released on cancel


def test_no_debounce_counts_every_edge() -> None:
    factory = MockFactory()
    clock = ManualClock(T0)
    source, sink = make_source(factory, clock, bounce_seconds=0)

    async def scenario(task: asyncio.Task[None]) -> None:
        play(factory.pin(17), clock, CHATTER)

    run_with(source, scenario)
    assert len(sink.readings) == 6
    assert source.bounced == 0


def test_pin_in_use_is_offline_once_then_claimed() -> None:
    factory = MockFactory()
    clock = ManualClock(T0)
    source, sink = make_source(factory, clock)
    squatter = DigitalInputDevice(17, pin_factory=factory)

    async def scenario(task: asyncio.Task[None]) -> None:
        await eventually(lambda: bool(sink.events), task)
        await advance(clock, 0.2, task)  # several retries at 20 ms
        assert [e[0] for e in sink.events] == ["offline"]
        assert sink.events[0][1].startswith("GPIO17 unavailable: ")
        squatter.close()
        await stepping(clock, lambda: source.device is not None, task)
        play(factory.pin(17), clock, [(5.0, True), (6.0, False)])

    try:
        run_with(source, scenario, claimed=False)
    finally:
        squatter.close()
    assert [e[0] for e in sink.events] == ["offline", "online"]
    assert [r["ts"] for r in sink.readings] == [T0 + 5.0]


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"mode": "cumulative"}, "sends 1 per edge"),
        ({"pull_up": None}, "set active_state"),
        ({"pull_up": True, "active_state": True}, "active_state is only for pull_up: null"),
        ({"edge": "both"}, "edge"),
        ({"pin": 99}, "pin"),
        ({"bounce_seconds": -1}, "bounce_seconds"),
        ({"bounce": 0.02}, "bounce"),
    ],
)
def test_bad_config_is_refused(keys: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        GpioSourceConfig.model_validate({"pin": 17, **keys})


def test_registered_as_gpio() -> None:
    driver = sources()["gpio"]
    assert driver.config_model is GpioSourceConfig
    assert driver.driver_class is GpioPulseSource
    config = GpioSourceConfig.model_validate({"type": "gpio", "pin": 17})
    assert (config.pull_up, config.bounce_seconds, config.edge, config.mode) == (
        False,
        0.02,
        "rising",
        "increment",
    )
