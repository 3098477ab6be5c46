"""The stack light interface every light driver implements: patterns, refresh, fail-safe."""

from __future__ import annotations

import abc
import asyncio
import logging
import math
from collections.abc import Mapping
from typing import Any, ClassVar

from andon.extras import Library
from andon.lights import LightPattern, PatternRules
from andon.state import LineState
from devices.base import FaultLog
from devices.connections import Connections

_device_log = logging.getLogger("devices")  # one logger for every driver's faults


class StackLightError(Exception):
    """A stack light refused or garbled a command (NAK, exception response, unknown answer)."""


class StackLight(abc.ABC):
    """A stack light: shows a pattern, writing only on change plus a periodic refresh.

    The caller shows a pattern (``show``) or a line state (``show_state``) on every state change and
    at least every few seconds; ``run`` refreshes the device, animates flashing for devices that
    cannot flash and falls back to the fail-safe pattern when the caller goes quiet.
    """

    # Optional libraries the driver imports when it runs (checked before it starts).
    libraries: ClassVar[tuple[Library, ...]] = ()

    def __init__(self, config: Any, connections: Connections) -> None:
        self.config = config
        self.connections = connections
        self.clock = connections.clock
        self.rules = PatternRules(config.patterns, config.fail_safe)
        self.faults = FaultLog(_device_log, f"stack light {self.describe()}")
        self.changed_at = self.clock.now()
        self._desired: LightPattern | None = None
        self._shown_at = self.changed_at
        self._target: LightPattern | None = None
        self._written: LightPattern | None = None
        self._written_at = -math.inf
        self._next_try = -math.inf
        self._lock = asyncio.Lock()
        self._wake: asyncio.Event | None = None

    @abc.abstractmethod
    async def write(self, pattern: LightPattern) -> None:
        """Send the whole pattern to the device; raise on a fault."""

    async def animate(self, now: float) -> None:  # noqa: B027 - optional hook
        """Advance flashing made by the driver; devices that flash on their own leave this alone."""

    def next_animation_at(self, now: float) -> float | None:
        """Return when ``animate`` next has something to do (None: never)."""
        return None

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release the connection or pins."""

    def describe(self) -> str:
        """Say which light this is, for logs."""
        return str(getattr(self.config, "id", None) or getattr(self.config, "type", "light"))

    def target(self, now: float) -> LightPattern:
        """Return what the light should show at ``now``: the last pattern shown, or fail-safe."""
        if self._desired is None or now - self._shown_at >= self.config.fail_safe_after_seconds:
            fail_safe: LightPattern = self.config.fail_safe
            return fail_safe
        return self._desired

    @property
    def written(self) -> LightPattern | None:
        """Return the pattern last written to the device successfully (None after a fault)."""
        return self._written

    async def show(self, pattern: LightPattern) -> None:
        """Show a pattern now (written only if it differs from what the device shows)."""
        self._desired = pattern
        self._shown_at = self.clock.now()
        await self.step()
        if self._wake is not None:
            self._wake.set()

    async def show_state(self, state: LineState | Mapping[str, Any]) -> None:
        """Show the pattern the rules give for a line state (docs/interfaces.md shape)."""
        await self.show(self.rules.pattern_for_state(state))

    async def step(self) -> float:
        """Bring the device up to date at the clock's time; return seconds until the next step."""
        async with self._lock:
            now = self.clock.now()
            target = self.target(now)
            if target != self._target:
                self._target = target
                self.changed_at = now
            if target != self._written:
                if self.faults.current is None or now >= self._next_try:
                    await self._try_write(target, now)
            elif now - self._written_at >= self.config.refresh_seconds:
                await self._try_write(target, now)
            else:
                await self.animate(now)
            return max(0.0, self._next_due(now) - now)

    async def _try_write(self, pattern: LightPattern, now: float) -> None:
        try:
            await self.write(pattern)
        except Exception as exc:  # a device fault must never stop the light's loop
            self._written = None
            self._next_try = now + self.config.retry_seconds
            self.faults.fault(str(exc) or type(exc).__name__)
            return
        self._written = pattern
        self._written_at = now
        self.faults.ok()

    def _next_due(self, now: float) -> float:
        due = [self._written_at + self.config.refresh_seconds]
        if self._written is None:
            due.append(self._next_try)
        if self._desired is not None and now - self._shown_at < self.config.fail_safe_after_seconds:
            due.append(self._shown_at + self.config.fail_safe_after_seconds)
        animation = self.next_animation_at(now)
        if animation is not None:
            due.append(animation)
        return min(due)

    async def run(self) -> None:
        """Refresh, animate and fall back to fail-safe until cancelled; then close."""
        self._wake = asyncio.Event()
        try:
            while True:
                delay = await self.step()
                self._wake.clear()
                await self._wait(self._wake, delay)
        finally:
            await self.close()

    async def _wait(self, wake: asyncio.Event, delay: float) -> None:
        """Wait ``delay`` seconds on the clock, or less when a new pattern is shown."""
        waits = {asyncio.ensure_future(self.clock.sleep(delay)), asyncio.ensure_future(wake.wait())}
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
