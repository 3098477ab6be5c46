"""The stack lights and andon buttons of a process's lines, run as tasks on one event loop.

Whoever owns the line state feeds it in (the live hub in ``andon run``, the server's stream on an
edge Pi); each light shows only the latest state and is asked to show it again every third of its
fail-safe time, so a light nobody feeds falls to its fail-safe pattern instead of freezing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from andon.clock import Clock
from andon.config.schema import Config
from andon.extras import missing_line
from andon.state import LineState
from devices import catalog
from devices.andon_button import AndonActions, AndonButton
from devices.base import FaultLog
from devices.connections import Connections
from devices.stack_light import StackLight

log = logging.getLogger(__name__)

StateGetter = Callable[[str], LineState | Mapping[str, Any] | None]


class LineHardware:
    """The stack lights and andon buttons of the chosen lines, run as tasks on one event loop.

    Feed it line states with ``state_listener`` (any thread); each light shows only the latest
    state (a slow Patlite never queues old ones), and ``refresh_state`` is asked again every
    ``refresh_seconds`` (default a third of the light's fail-safe time) so the light stays fed.
    """

    def __init__(
        self, config: Config, actions: AndonActions, clock: Clock, line_ids: list[str] | None = None,
        connections: Connections | None = None, refresh_state: StateGetter | None = None,
        refresh_seconds: float | None = None, restart_delay: float = 5.0,
    ) -> None:
        self.config = config
        self.actions = actions
        self.clock = clock
        self.connections = connections or Connections(clock, mqtt=config.mqtt)
        self.refresh_state = refresh_state or self.latest
        self.restart_delay = restart_delay
        self.lights: dict[str, StackLight] = {}
        self.buttons: list[AndonButton] = []
        wanted = [line for line in config.lines if line_ids is None or line.id in line_ids]
        lights, buttons = catalog.lights(), catalog.buttons()
        for line in wanted:
            light = line.stack_light
            if light is not None and _installed(lights[light.type], f"the {light.type} stack light of {line.id}"):
                self.lights[line.id] = lights[light.type].driver_class(light, self.connections)
            for button in line.andon.buttons:
                if _installed(buttons[button.type], f"the {button.type} andon button of {line.id}"):
                    self.buttons.append(buttons[button.type].driver_class(button, line.id, actions, self.connections))
        periods = [light.config.fail_safe_after_seconds / 3 for light in self.lights.values()]
        self.refresh_seconds = refresh_seconds or min(periods, default=5.0)
        self._latest: dict[str, LineState | Mapping[str, Any]] = {}
        self._dirty: set[str] = set()
        self._showing: dict[str, asyncio.Task[None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._refresh_fault = FaultLog(log, "stack light refresh")

    def latest(self, line_id: str) -> LineState | Mapping[str, Any] | None:
        """Return the last state received for a line."""
        return self._latest.get(line_id)

    def state_listener(self, line_id: str, state: LineState | Mapping[str, Any]) -> None:
        """Show a line's new state on its light soon; never blocks (any thread)."""
        loop = self._loop
        if loop is None or line_id not in self.lights:
            self._latest[line_id] = state
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._schedule(line_id, state)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(self._schedule, line_id, state)

    def _schedule(self, line_id: str, state: LineState | Mapping[str, Any]) -> None:
        self._latest[line_id] = state
        self._dirty.add(line_id)
        task = self._showing.get(line_id)
        if task is None or task.done():
            self._showing[line_id] = asyncio.create_task(self._show_latest(line_id), name=f"light {line_id}")

    async def _show_latest(self, line_id: str) -> None:
        light = self.lights[line_id]
        while line_id in self._dirty:
            self._dirty.discard(line_id)
            try:
                await light.show_state(self._latest[line_id])
            except Exception:  # a driver bug must not stop the other lights
                log.exception("stack light of %s failed to show a state", line_id)

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_seconds)
            for line_id in self.lights:
                try:
                    state = self.refresh_state(line_id)
                except Exception as exc:  # no state we can vouch for: let the light fall to fail-safe
                    self._refresh_fault.fault(f"state of {line_id} unavailable: {exc}")
                    continue
                self._refresh_fault.ok()
                if state is not None:
                    self._schedule(line_id, state)

    async def start(self) -> None:
        """Start every light and button, and the periodic refresh."""
        self._loop = asyncio.get_running_loop()
        for line_id, light in self.lights.items():
            self._tasks.append(asyncio.create_task(
                self._keep_running(f"stack light {line_id} ({light.describe()})", light.run), name=f"light {line_id}"))
            if line_id in self._latest:
                self._schedule(line_id, self._latest[line_id])
        for button in self.buttons:
            name = f"andon button {button.line}/{button.describe()}"
            self._tasks.append(asyncio.create_task(self._keep_running(name, button.run), name=name))
        if self.lights:
            self._tasks.append(asyncio.create_task(self._refresh_forever(), name="stack light refresh"))
        if self.lights or self.buttons:
            log.info("running %d stack light(s) and %d andon button(s)", len(self.lights), len(self.buttons))

    async def _keep_running(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await run()
                return  # a driver that ends on its own (broker refused for good) said why
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s stopped with an error; restarting in %.0f s", name, self.restart_delay)
                await asyncio.sleep(self.restart_delay)

    async def stop(self) -> None:
        """Stop buttons and lights (each light closes its device) and wait for them."""
        tasks = [*self._tasks, *self._showing.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._showing.clear()
        self._loop = None


def _installed(driver: catalog.Driver, what: str) -> bool:
    """Say whether a driver's libraries are there; log one line per missing one (it is not started)."""
    absent = driver.missing()
    for library in absent:
        log.error("%s", missing_line(what, library))
    return not absent
