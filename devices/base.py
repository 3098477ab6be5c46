"""What every device driver shares: common config fields and the interfaces to the collector."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import math
import threading
from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from andon.clock import Clock
from andon.lights import DEFAULT_FAIL_SAFE, LightPattern, PatternRules, PatternTable


class StrictModel(BaseModel):
    """A config model that refuses keys it does not know."""

    model_config = ConfigDict(extra="forbid")


class SourceConfigBase(StrictModel):
    """Keys every count source has, whatever its protocol."""

    type: str = Field(description="Which driver reads this source.")
    id: str | None = Field(
        None, description="Name of this source, unique within its line (default: type and index)."
    )
    mode: Literal["cumulative", "increment", "pulse"] = Field(
        "increment",
        description="cumulative: a counter value; increment: each reading adds n; "
        "pulse: each edge adds 1 (debounced).",
    )
    kind: Literal["good", "scrap"] = Field("good", description="Whether this source counts good parts or scrap.")
    parts_per_cycle: int = Field(1, ge=1, description="Parts made per counted cycle.")
    bits: Literal[16, 32, 64] = Field(32, description="Counter width, for rollover of cumulative counters.")
    signed: bool = Field(False, description="Whether the counter is a signed integer.")
    max_jump: int = Field(
        10_000, ge=1, description="Largest believable count from one reading; bigger jumps are rejected."
    )
    debounce_seconds: float = Field(
        0.0, ge=0, description="Pulse mode: edges closer together than this are one edge."
    )
    stale_after_seconds: float | None = Field(
        None,
        gt=0,
        description="Mark the line stale when this source sends nothing for this long (for sources "
        "that report regularly, such as polled counters); default: stale only while the driver "
        "reports the source offline.",
    )


class ReadingSink(Protocol):
    """Where a count source delivers what it reads. Every method is safe to call from any thread."""

    def reading(
        self,
        value: Any,
        *,
        ts: Any = None,
        event_id: str | None = None,
        kind: str | None = None,
        on_stored: Callable[[], None] | None = None,
    ) -> None:
        """Hand over one raw reading; ``on_stored`` runs once it is durably stored (or rejected).

        ``kind`` overrides the source's configured good/scrap kind for this one reading.
        """
        ...

    def online(self) -> None:
        """Report that the source answers (logged once on recovery)."""
        ...

    def offline(self, reason: str) -> None:
        """Report that the source does not answer, in words an engineer understands."""
        ...


class SourceContext:
    """Collaborators handed to a count source: the clock and connections shared between lines."""

    def __init__(self, clock: Clock, shared: dict[str, Any] | None = None) -> None:
        self.clock = clock
        self.shared: dict[str, Any] = shared if shared is not None else {}


class CountSource(abc.ABC):
    """A driver that reads production counts and hands them to a sink until cancelled."""

    def __init__(self, config: Any, sink: ReadingSink, context: SourceContext) -> None:
        self.config = config
        self.sink = sink
        self.context = context

    @abc.abstractmethod
    async def run(self) -> None:
        """Read forever (reconnecting on faults) until the task is cancelled."""

    def describe(self) -> str:
        """Say where this source reads from, for logs and the board."""
        return str(getattr(self.config, "type", type(self).__name__))


class SourceAvailability:
    """Tell a sink when a count source goes offline and comes back, each once per outage.

    The start of an outage is logged at ERROR, faults while it lasts at DEBUG, the recovery at INFO.
    """

    def __init__(self, sink: ReadingSink, logger: logging.Logger, what: str) -> None:
        self.sink = sink
        self.logger = logger
        self.what = what
        self.online: bool | None = None  # None: nothing read yet

    def ok(self) -> None:
        """Report a good reading: online on the first one and on the first after an outage."""
        if self.online is True:
            return
        if self.online is False:
            self.logger.info("%s: reading again", self.what)
        self.online = True
        self.sink.online()

    def fault(self, fault: Exception, *, logged: bool = False) -> None:
        """Report a fault; ``logged``: its start was logged elsewhere (a shared PLC connection)."""
        if self.online is False:
            self.logger.debug("%s: %s", self.what, fault)
            return
        if not logged:
            self.logger.error("%s: %s", self.what, fault)
        self.online = False
        self.sink.offline(str(fault))


class PlcOutage:
    """A shared PLC connection's outage: logged once per PLC, reconnects spaced by a doubling wait."""

    def __init__(self, logger: logging.Logger, where: str, *, retry_min: float, retry_max: float) -> None:
        self.logger = logger
        self.where = where
        self.retry_min = retry_min
        self.retry_max = retry_max
        self.why: str | None = None  # None: the PLC answers
        self.retry_wait = retry_min
        self.retry_at = 0.0

    def answered(self) -> None:
        """End the outage on an answer (a PLC that accepts connections but stays silent is still down)."""
        if self.why is not None:
            self.logger.info("PLC %s answers again (was: %s)", self.where, self.why)
            self.why = None
            self.retry_wait = self.retry_min

    def lost(self, why: str, now: float) -> None:
        """Note a failed connection or request (ERROR at the start, DEBUG after); wait before retrying."""
        if self.why is None:
            self.logger.error("PLC %s unreachable: %s", self.where, why)
        else:
            self.logger.debug("PLC %s still unreachable: %s", self.where, why)
            self.retry_wait = min(self.retry_wait * 2, self.retry_max)
        self.why = why
        self.retry_at = now + self.retry_wait

    def too_soon(self, now: float) -> bool:
        """Say whether ``now`` comes before the next reconnect attempt is due."""
        return now < self.retry_at


class RisingEdge:
    """Spot a part-done flag turning on; the first sample (and the first after a fault) only learns it."""

    def __init__(self) -> None:
        self.last: bool | None = None

    def rose(self, on: bool) -> bool:
        """Take one sample; return True when the flag was off at the previous one and is on now."""
        rose = self.last is False and on
        self.last = on
        return rose

    def forget(self) -> None:
        """Forget the flag (after a fault), so a flag found on afterwards is not a new part."""
        self.last = None


# --- Stack lights and andon buttons ---------------------------------------------------------

_device_log = logging.getLogger("devices")


class FaultLog:
    """Log a device fault once at ERROR, its repeats at DEBUG and the recovery at INFO."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self.logger = logger
        self.what = what
        self.current: str | None = None

    def fault(self, message: str) -> None:
        """Report a fault (logged at ERROR when new, DEBUG when it repeats)."""
        if message != self.current:
            self.logger.error("%s: %s", self.what, message)
        else:
            self.logger.debug("%s: %s (still)", self.what, message)
        self.current = message

    def ok(self) -> None:
        """Report that the device works (logged at INFO after a fault)."""
        if self.current is not None:
            self.logger.info("%s: recovered (was: %s)", self.what, self.current)
            self.current = None


class StackLightError(Exception):
    """A stack light refused or garbled a command (NAK, exception response, unknown answer)."""


class StackLightConfigBase(StrictModel):
    """Keys every stack light has, whatever its protocol."""

    id: str | None = Field(default=None, description="Name of this light, for logs.")
    fail_safe: LightPattern = Field(
        default=DEFAULT_FAIL_SAFE,
        description="Pattern shown when no line state arrives for fail_safe_after_seconds, before "
        "the first state, and for a stale line (default: yellow flashing alone).",
    )
    fail_safe_after_seconds: float = Field(
        default=15.0, gt=0, description="Go to fail-safe when no state was shown for this long."
    )
    refresh_seconds: float = Field(
        default=10.0, gt=0, description="Write the pattern again this often (power-cycled lights)."
    )
    retry_seconds: float = Field(
        default=2.0, gt=0, description="Wait this long before retrying a failed write."
    )
    patterns: PatternTable = Field(
        default=PatternTable(), description="Overrides of the default line-state-to-pattern rules."
    )


class StackLight(abc.ABC):
    """A stack light: shows a pattern, writing only on change plus a periodic refresh.

    The caller shows a pattern (``show``) or a line state (``show_state``) on every state change and
    at least every few seconds; ``run`` refreshes the device, animates flashing for devices that
    cannot flash and falls back to the fail-safe pattern when the caller goes quiet.
    """

    def __init__(self, config: Any, context: SourceContext) -> None:
        self.config = config
        self.context = context
        self.clock = context.clock
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

    async def show_state(self, state: Mapping[str, Any]) -> None:
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
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=delay)
        finally:
            await self.close()


ButtonAction = Literal["raise", "acknowledge", "resolve"]
BUTTON_ACTIONS: tuple[ButtonAction, ...] = ("raise", "acknowledge", "resolve")


class AndonActions(Protocol):
    """What an andon button asks of the andon service. Safe to call from any thread.

    Raising is idempotent in the service: raising again for an open line+station+category returns
    the open call. Acknowledge and resolve act on the open call of that line+station+category.
    """

    def raise_call(self, line: str, station: str, category: str, source: str) -> Any:
        """Raise an andon call (or return the open one)."""
        ...

    def acknowledge(self, line: str, station: str, category: str, source: str) -> Any:
        """Acknowledge the open call of this station and category."""
        ...

    def resolve(self, line: str, station: str, category: str, source: str) -> Any:
        """Resolve the open call of this station and category."""
        ...


class ButtonConfigBase(StrictModel):
    """Keys every andon button has, whatever its protocol."""

    id: str | None = Field(default=None, description="Name of this button, recorded on calls.")
    repeat_guard_seconds: float = Field(
        default=1.0,
        ge=0,
        description="The same action for the same station and category within this time is one.",
    )


class AndonButton(abc.ABC):
    """An andon button: turns presses or messages into raise, acknowledge and resolve on a line."""

    def __init__(
        self, config: Any, line: str, actions: AndonActions, context: SourceContext
    ) -> None:
        self.config = config
        self.line = line
        self.actions = actions
        self.context = context
        self.clock = context.clock
        self.faults = FaultLog(_device_log, f"andon button {self.describe()} on {line}")
        self._last: dict[tuple[str, str, str], float] = {}
        self._guard = threading.Lock()

    @abc.abstractmethod
    async def run(self) -> None:
        """Listen for presses until cancelled."""

    def describe(self) -> str:
        """Say which button this is, for logs and as the call's source."""
        return str(getattr(self.config, "id", None) or getattr(self.config, "type", "button"))

    @property
    def source(self) -> str:
        """Return who raised the call, as recorded on it."""
        return f"button:{self.describe()}"

    def perform(self, action: str, station: str, category: str) -> bool:
        """Ask the andon service for one action; return False if dropped as a repeat or refused."""
        if action not in BUTTON_ACTIONS:
            raise ValueError(
                f"unknown andon action {action!r}; expected raise, acknowledge or resolve"
            )
        key = (action, station, category)
        now = self.clock.now()
        with self._guard:
            last = self._last.get(key)
            if last is not None and now - last < self.config.repeat_guard_seconds:
                _device_log.debug(
                    "%s: %s %s %s repeated within the guard time; dropped",
                    self.describe(), action, station, category,
                )
                return False
            self._last[key] = now
        method = {
            "raise": self.actions.raise_call,
            "acknowledge": self.actions.acknowledge,
            "resolve": self.actions.resolve,
        }[action]
        try:
            method(self.line, station, category, self.source)
        except Exception as exc:  # the service refused (unknown category, no open call): go on
            _device_log.error(
                "%s: %s %s %s on %s refused: %s",
                self.describe(), action, station, category, self.line, exc,
            )
            return False
        _device_log.info(
            "%s: %s %s %s on %s", self.describe(), action, station, category, self.line
        )
        return True

    async def perform_async(self, action: str, station: str, category: str) -> bool:
        """Run ``perform`` in a worker thread so a slow service never blocks the event loop."""
        return await asyncio.to_thread(self.perform, action, station, category)
