"""The andon button interface every button driver implements, and what it asks of the service."""

from __future__ import annotations

import abc
import asyncio
import logging
import threading
from collections import Counter
from typing import Any, ClassVar, Literal, Protocol

from andon.extras import Library
from devices.base import FaultLog
from devices.connections import Connections

ButtonAction = Literal["raise", "acknowledge", "resolve"]
BUTTON_ACTIONS: tuple[ButtonAction, ...] = ("raise", "acknowledge", "resolve")


_device_log = logging.getLogger("devices")  # one logger for every driver's faults


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


class AndonButton(abc.ABC):
    """An andon button: turns presses or messages into raise, acknowledge and resolve on a line."""

    # Optional libraries the driver imports when it runs (checked before it starts).
    libraries: ClassVar[tuple[Library, ...]] = ()

    def __init__(
        self, config: Any, line: str, actions: AndonActions, connections: Connections
    ) -> None:
        self.config = config
        self.line = line
        self.actions = actions
        self.connections = connections
        self.clock = connections.clock
        self.faults = FaultLog(_device_log, f"andon button {self.describe()} on {line}")
        self._last: dict[tuple[str, str, str], float] = {}
        self._guard = threading.Lock()
        # Messages or lines refused, by reason (exported on /metrics as andon_button_messages_rejected_total).
        self.rejected: Counter[str] = Counter()

    def reject(self, reason: str, detail: str) -> None:
        """Count a refused message by reason and log it (once at ERROR while it repeats)."""
        self.rejected[reason] += 1
        self.faults.fault(f"rejected ({reason}): {detail}")

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
        except Exception as exc:  # the service refused (unknown station or category, no open call): go on
            reason = getattr(exc, "reason", None)
            self.reject(reason if isinstance(reason, str) else "refused",
                        f"{action} {station} {category} on {self.line} refused: {exc}")
            return False
        _device_log.info(
            "%s: %s %s %s on %s", self.describe(), action, station, category, self.line
        )
        return True

    async def perform_async(self, action: str, station: str, category: str) -> bool:
        """Run ``perform`` in a worker thread so a slow service never blocks the event loop."""
        return await asyncio.to_thread(self.perform, action, station, category)
