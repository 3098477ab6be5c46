"""What every device driver shares: common config fields and the interfaces to the collector."""

from __future__ import annotations

import abc
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

from andon.errors import StorageUnavailable
from andon.extras import Library
from andon.payload import excerpt
from devices.connections import Connections


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
        reason: str | None = None,
    ) -> None:
        """Hand over one raw reading; ``on_stored`` runs once it is durably stored (or rejected).

        ``kind`` overrides the source's configured good/scrap kind for this one reading; ``reason`` is the
        scrap reason code the reading came with (an MQTT source's ``reason_field``).
        """
        ...

    def online(self) -> None:
        """Report that the source answers (logged once on recovery)."""
        ...

    def offline(self, reason: str) -> None:
        """Report that the source does not answer, in words an engineer understands."""
        ...


_STORAGE_MODULES = ("sqlalchemy", "sqlite3", "psycopg")
_intake_log = logging.getLogger("devices")


def storage_fault(exc: BaseException) -> bool:
    """Say whether an error from a sink means storage cannot write now (keep the reading), not a bad reading."""
    if isinstance(exc, OSError | StorageUnavailable):
        return True
    return any(cls.__module__.split(".")[0] in _STORAGE_MODULES for cls in type(exc).__mro__)


class CountSource(abc.ABC):
    """A driver that reads production counts and hands them to a sink until cancelled.

    ``rejected`` tallies what the driver itself refused, by reason (exported on ``/metrics`` as
    ``andon_source_payloads_rejected_total``); readings the plant refuses are counted there.
    """

    # Optional libraries the driver imports when it runs (checked before it starts).
    libraries: ClassVar[tuple[Library, ...]] = ()

    def __init__(self, config: Any, sink: ReadingSink, connections: Connections) -> None:
        self.config = config
        self.sink = sink
        self.connections = connections
        self.rejected: Counter[str] = Counter()
        self._reasons_logged: set[str] = set()

    def reject(self, reason: str, detail: str) -> None:
        """Count a refused reading by reason; log a reason's first time at WARNING, repeats at DEBUG."""
        self.rejected[reason] += 1
        level = logging.DEBUG if reason in self._reasons_logged else logging.WARNING
        self._reasons_logged.add(reason)
        _intake_log.log(level, "%s: rejected (%s): %s", self.describe(), reason, detail)

    def deliver(
        self, value: Any, *, ts: Any = None, event_id: str | None = None,
        on_stored: Callable[[], None] | None = None, reason: str | None = None,
    ) -> bool:
        """Hand one reading to the sink; a sink that raises never stops the driver. Return whether it took it.

        An error about the reading itself is a reject (``intake failed``) and ``on_stored`` still runs,
        so the message ends; a storage fault leaves ``on_stored`` unrun, so a broker keeps the message.
        """
        return self.hand(
            lambda: self.sink.reading(value, ts=ts, event_id=event_id, on_stored=on_stored, reason=reason),
            "reading", value, on_stored,
        )

    def hand(self, call: Callable[[], None], what: str, value: Any, on_stored: Callable[[], None] | None) -> bool:
        """Run ``call`` (a hand-over of ``what`` to the sink) so that a sink that raises never stops the driver.

        Return whether it took it. An error about the value is a reject (``intake_failed``) and ``on_stored``
        still runs, so the message ends; a storage fault leaves ``on_stored`` unrun, so a broker keeps it.
        """
        try:
            call()
        except Exception as exc:
            if storage_fault(exc):
                _intake_log.error("%s: %s not stored, storage fault: %s", self.describe(), what, exc)
                return False
            _intake_log.exception("%s: the plant failed on a %s", self.describe(), what)
            self.reject("intake_failed", f"{type(exc).__name__} on {what} {excerpt(value, 40)}")
            if on_stored is not None:
                on_stored()
            return False
        return True

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
