"""GPIO andon button on gpiozero's mock pins: debounce, long press, second button, on a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory

from andon.clock import ManualClock
from devices.buttons.gpio import Debouncer, GpioAndonButton, GpioButtonConfig
from devices.connections import Connections
from tests.devices.polling import advance, cancel, idle
from tests.lights.conftest import RecordingActions

T0 = 1_800_000_000.0


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    """A mock pin factory, reset after the test."""
    pins = MockFactory()
    try:
        yield pins
    finally:
        pins.reset()


def make_button(
    factory: MockFactory, clock: ManualClock, actions: RecordingActions, **extra: object
) -> GpioAndonButton:
    """Build and open a button on pin 5 (station st3, quality) of line1."""
    config = GpioButtonConfig.model_validate(
        {"type": "gpio", "pin": 5, "station": "st3", "category": "quality", "id": "st3-q", **extra}
    )
    button = GpioAndonButton(config, "line1", actions, Connections(clock, pin_factory=factory))
    button.open()
    return button


def drive(
    factory: MockFactory, clock: ManualClock, button: GpioAndonButton, script: list[tuple[float, str]], until: float
) -> list[tuple[float, str]]:
    """Play (time, 'press'|'release') on pin 5 in 10 ms steps; return (time, action) performed."""
    pin = factory.pin(5)
    done: list[tuple[float, str]] = []
    events = dict(script)
    for ms in range(0, round(until * 1000) + 1, 5):
        t = ms / 1000
        clock.set(T0 + t)
        if t in events:
            pin.drive_low() if events[t] == "press" else pin.drive_high()
        done.extend((t, action) for action in button.step())
    return done


def test_chattering_short_press_raises_once_on_release(factory: MockFactory, actions: RecordingActions) -> None:
    """Contacts bounce for 20 ms on press and on release: one raise, 50 ms after the release."""
    clock = ManualClock(T0)
    button = make_button(factory, clock, actions)
    script = [
        (0.1, "press"),
        (0.105, "release"),
        (0.11, "press"),
        (0.115, "release"),
        (0.12, "press"),
        (0.4, "release"),
        (0.405, "press"),
        (0.41, "release"),
    ]
    assert drive(factory, clock, button, script, until=1.0) == [(0.46, "raise")]
    assert actions.calls == [("raise", "line1", "st3", "quality", "button:st3-q")]
    button.close()


def test_held_down_acknowledges_once_and_never_raises(factory: MockFactory, actions: RecordingActions) -> None:
    """Holding 10 s: one acknowledge when 2 s are reached (from the steady press), nothing more."""
    clock = ManualClock(T0)
    button = make_button(factory, clock, actions)
    done = drive(factory, clock, button, [(0.1, "press"), (10.0, "release")], until=11.0)
    assert done == [(2.1, "acknowledge")]
    button.close()


def test_without_long_press_a_stuck_button_raises_once_at_press(
    factory: MockFactory, actions: RecordingActions
) -> None:
    """long_press_seconds null: raise 50 ms after the press; held 5 s: still one raise."""
    clock = ManualClock(T0)
    button = make_button(factory, clock, actions, long_press_seconds=None)
    done = drive(factory, clock, button, [(0.1, "press"), (5.0, "release")], until=6.0)
    assert done == [(0.15, "raise")]
    button.close()


def test_second_button_acknowledges_and_third_resolves(factory: MockFactory, actions: RecordingActions) -> None:
    """ack_pin 6 acknowledges, resolve_pin 13 resolves, each once per steady press."""
    clock = ManualClock(T0)
    button = make_button(factory, clock, actions, ack_pin=6, resolve_pin=13)
    ack, resolve = factory.pin(6), factory.pin(13)
    clock.set(T0 + 1.0)
    ack.drive_low()
    clock.set(T0 + 1.002)
    ack.drive_high()
    clock.set(T0 + 1.004)
    ack.drive_low()
    clock.set(T0 + 1.03)
    assert button.step() == []
    clock.set(T0 + 1.054)
    assert button.step() == ["acknowledge"]
    clock.set(T0 + 3.0)
    ack.drive_high()
    resolve.drive_low()
    clock.set(T0 + 3.1)
    assert button.step() == ["resolve"]
    assert actions.actions() == ["acknowledge", "resolve"]
    button.close()


def test_a_glitch_shorter_than_bounce_is_ignored(factory: MockFactory, actions: RecordingActions) -> None:
    """A 30 ms spike, even one that falls between two polls, is no press."""
    clock = ManualClock(T0)
    button = make_button(factory, clock, actions, long_press_seconds=None)
    clock.set(T0 + 0.1)
    factory.pin(5).drive_low()
    clock.set(T0 + 0.13)
    factory.pin(5).drive_high()
    clock.set(T0 + 1.0)
    assert button.step() == []
    button.close()


def test_short_press_between_polls_is_still_seen(factory: MockFactory, actions: RecordingActions) -> None:
    """A 100 ms press entirely between two polls counts (edges carry their own times)."""
    clock = ManualClock(T0)
    button = make_button(factory, clock, actions)
    clock.set(T0 + 0.1)
    factory.pin(5).drive_low()
    clock.set(T0 + 0.2)
    factory.pin(5).drive_high()
    clock.set(T0 + 1.0)
    assert button.step() == ["raise"]
    button.close()


def test_refused_action_is_logged_and_the_button_keeps_working(
    factory: MockFactory, actions: RecordingActions, caplog: pytest.LogCaptureFixture
) -> None:
    """The service refuses (unknown category): ERROR logged, the next press still goes through."""
    clock = ManualClock(T0)
    button = make_button(factory, clock, actions, long_press_seconds=None)
    actions.refuse = "unknown category 'quality'"
    drive(factory, clock, button, [(0.1, "press"), (0.3, "release")], until=0.5)
    assert "refused: unknown category 'quality'" in caplog.text
    actions.refuse = None
    clock.set(T0 + 2)
    factory.pin(5).drive_low()
    clock.set(T0 + 2.1)
    assert button.step() == ["raise"]
    assert actions.actions() == ["raise"]
    button.close()


@pytest.mark.parametrize(
    ("edges", "now", "expected"),
    [
        ([(0.0, True)], 0.049, []),
        ([(0.0, True)], 0.05, [(True, 0.0)]),
        ([(0.0, True), (0.01, False), (0.02, True)], 0.07, [(True, 0.02)]),
        ([(0.0, True), (0.06, False)], 0.2, [(True, 0.0), (False, 0.06)]),
        ([(0.0, True), (0.03, False)], 1.0, []),
    ],
)
def test_debouncer_table(edges: list[tuple[float, bool]], now: float, expected: list[tuple[bool, float]]) -> None:
    """Steady changes and their start times, for bounce 50 ms."""
    debouncer = Debouncer(0.05)
    for at, level in edges:
        debouncer.edge(level, at)
    assert debouncer.poll(now) == expected


def test_same_pin_twice_is_refused() -> None:
    """ack_pin equal to pin is a config error."""
    with pytest.raises(ValueError, match="must be different pins"):
        GpioButtonConfig.model_validate({"type": "gpio", "pin": 5, "ack_pin": 5, "station": "s", "category": "c"})


def test_run_polls_the_pins_on_the_clock(factory: MockFactory, actions: RecordingActions) -> None:
    """Run as a task, the button polls every poll_seconds of the clock: a 0.1 s press raises on its release."""
    clock = ManualClock(T0)
    button = make_button(factory, clock, actions)

    async def scenario() -> None:
        task = asyncio.create_task(button.run())
        try:
            await idle(clock, task)
            assert clock.next_deadline() == T0 + 0.01  # the default poll_seconds
            factory.pin(5).drive_low()
            await advance(clock, 0.1, task)
            assert actions.calls == []  # long press on: a short press raises on release
            factory.pin(5).drive_high()
            await advance(clock, 0.1, task)
        finally:
            await cancel(task)

    asyncio.run(scenario())
    assert actions.calls == [("raise", "line1", "st3", "quality", "button:st3-q")]
