"""The plant service: every line's runtime, the count intake, metrics and change listeners."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from andon.calendar import ShiftCalendar
from andon.clock import Clock
from andon.config.schema import Config
from andon.counting import (
    BUFFERED,
    FLAG_BITS,
    MANUAL,
    RejectedReading,
    SeenIds,
    as_boolean,
    fault_reason,
    parse_time,
)
from andon.errors import StorageUnavailable
from andon.line import HTTP_SOURCE, LineRuntime
from andon.sink import SourceSink
from andon.storage.stops import RUN_OFF, RUN_ON
from andon.storage.store import Store
from andon.storage.writer import (
    CANCELLED,
    STORED,
    CounterUpdate,
    EventWriter,
    IncidentRecord,
    Item,
    PendingEvent,
)
from andon.takt import Target

log = logging.getLogger(__name__)

DEDUPE_WINDOW_SECONDS = 48 * 3600
COMMIT_WAIT_SECONDS = 5.0  # how long an HTTP count waits for its commit before answering 503


class UnknownLine(KeyError):
    """A line id that is not in the configuration."""


@dataclass(frozen=True)
class Intake:
    """What became of one reading: accepted (with parts), duplicate, or rejected with a reason."""

    status: str
    count: int = 0
    reason: str = ""
    message: str = ""
    pending: PendingEvent | None = None


class ProductIntake(Protocol):
    """Where product readings go (the product service): a source's value selects what the line makes."""

    def reading(
        self, line_id: str, source_id: str, value: Any, *, ts: Any = None, on_stored: Callable[[], None] | None = None,
    ) -> None:
        """Take one product reading; ``on_stored`` runs once the change is stored (or the reading refused)."""
        ...


class Metrics:
    """Prometheus counters of the count intake, on a registry owned by the plant."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.rejected = Counter(
            "andon_events_rejected", "Readings rejected, by reason", ["line", "reason"], registry=registry
        )
        self.duplicates = Counter(
            "andon_events_duplicate", "Readings dropped as already counted", ["line"], registry=registry
        )
        self.unstorable = Counter(
            "andon_events_unstorable", "Accepted readings the database refused to store, by line",
            ["line"], registry=registry,
        )
        # What every accepted reading adds to: plain numbers (the intake lock serialises them), read when
        # /metrics is scraped. A prometheus_client counter takes a lock and checks its labels at every step,
        # which cost more than the count it counts.
        self.accepted: dict[str, int] = {}
        self.parts: dict[tuple[str, str], int] = {}
        registry.register(_IntakeCounters(self))

    def accept(self, line_id: str) -> None:
        """Count one accepted reading of a line (under the plant's intake lock)."""
        self.accepted[line_id] = self.accepted.get(line_id, 0) + 1

    def count_parts(self, line_id: str, kind: str, parts: int) -> None:
        """Count parts of a kind (good, scrap) on a line (under the plant's intake lock)."""
        key = (line_id, kind)
        self.parts[key] = self.parts.get(key, 0) + parts


class _IntakeCounters(Collector):
    """``andon_events_accepted_total`` and ``andon_parts_total``, from the plant's plain numbers."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[CounterMetricFamily]:
        accepted = CounterMetricFamily("andon_events_accepted", "Readings accepted", labels=["line"])
        for line, value in sorted(dict(self.metrics.accepted).items()):
            accepted.add_metric([line], value)
        parts = CounterMetricFamily("andon_parts", "Parts counted", labels=["line", "kind"])
        for (line, kind), value in sorted(dict(self.metrics.parts).items()):
            parts.add_metric([line, kind], value)
        yield accepted
        yield parts


class Plant:
    """Every line of the plant, fed by sources and the API, read by boards and outputs."""

    def __init__(
        self, config: Config, store: Store, clock: Clock,
        registry: CollectorRegistry | None = None, writer: EventWriter | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.writer = writer or EventWriter(store)
        self.writer.on_refused = self._refused_by_storage
        self.metrics = Metrics(registry or CollectorRegistry())
        self._listeners: list[Callable[[str], None]] = []
        # Called with (line, reason code or None, event time, who) when a device names why the line stopped.
        self.reason_listeners: list[Callable[[str, str | None, float, str], None]] = []
        self._faults: dict[tuple[str, str], str | None] = {}
        self._warned: set[tuple[str, str, str]] = set()
        self._intake_lock = threading.Lock()
        counter_states = store.counter_states()
        overrides = store.overrides()
        self.lines: dict[str, LineRuntime] = {}
        for line in config.lines:
            calendar = ShiftCalendar(config.shifts_of(line), config.plant.timezone)
            self.lines[line.id] = LineRuntime(
                line, calendar, store, clock,
                counter_states={s: v for (lid, s), v in counter_states.items() if lid == line.id},
                overrides={
                    (d, sh): Target(t, n) for (lid, d, sh), (t, n) in overrides.items() if lid == line.id
                },
                reasons=config.reasons_of(line),
                products=config.products,
            )
            self.lines[line.id].last_count_at = store.last_count_at(line.id, clock.now() + 3600)
        self.seen: dict[str, SeenIds] = {lid: SeenIds() for lid in self.lines}
        self.products: ProductIntake | None = None  # set by the composition root (services_for)
        for line_id, event_id in store.event_ids_since(clock.now() - DEDUPE_WINDOW_SECONDS):
            if line_id in self.seen:
                self.seen[line_id].add(event_id)

    def line(self, line_id: str) -> LineRuntime:
        """Return a line's runtime or raise UnknownLine."""
        try:
            return self.lines[line_id]
        except KeyError:
            raise UnknownLine(line_id) from None

    def on_change(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(line_id)`` whenever a line's counts or sources change."""
        self._listeners.append(listener)

    def notify(self, line_id: str) -> None:
        """Tell every listener that a line changed."""
        for listener in list(self._listeners):
            try:
                listener(line_id)
            except Exception:
                log.exception("a change listener failed")

    def intake(
        self, line_id: str, source_id: str, value: Any, *, ts: Any = None, event_id: str | None = None,
        kind: str | None = None, flags: int = 0, on_stored: Callable[[], None] | None = None,
        increment: bool = False, urgent: bool = False, reason: str | None = None,
    ) -> Intake:
        """Take one reading from a source or the API: dedupe, normalise, tally and queue it.

        ``increment`` says the value is already a number of parts (HTTP posts, edge collectors
        that normalised at the line), whatever the source's own mode. ``urgent`` commits it without
        waiting for more to batch with (someone waits on the answer).
        """
        line = self.line(line_id)
        received = self.clock.now()
        with self._intake_lock:
            line.seen(source_id, received)
            try:
                if source_id in line.roles:
                    return self._signal(line, source_id, value, ts, received, on_stored)
                result = self._intake(
                    line, source_id, value, ts, event_id, kind, flags, received, on_stored, increment, urgent,
                    reason,
                )
            except RejectedReading as exc:
                self.refuse(line_id, source_id, exc.reason, str(exc))
                if on_stored is not None:
                    # Acknowledge a bad message too, or the broker would redeliver it forever.
                    self.writer.put(on_stored)
                return Intake("rejected", reason=exc.reason, message=str(exc))
        if result.count:
            self.notify(line_id)
        return result

    def _intake(
        self, line: LineRuntime, source_id: str, value: Any, ts: Any, event_id: str | None,
        kind: str | None, flags: int, received: float, on_stored: Callable[[], None] | None,
        increment: bool, urgent: bool, reason: str | None = None,
    ) -> Intake:
        normaliser = line.normalisers.get(source_id)
        if normaliser is None:
            raise RejectedReading("unknown_source", f"line {line.id!r} has no source {source_id!r}")
        if source_id in line.product_sources:
            raise RejectedReading("product_source", f"source {source_id!r} selects the product; it counts no parts")
        if increment:
            # Already parts (HTTP posts, edge-normalised counts): parts_per_cycle was applied upstream.
            normaliser = line.normalisers[HTTP_SOURCE]
        seen = self.seen[line.id]
        if event_id is not None:
            event_id = checked_event_id(event_id)
            if not event_id.strip():
                # A blank id names no event: counted without de-duplication, or every count after the first
                # from a device sending "" would be taken for a copy of it and lost.
                event_id = None
        key = None if event_id is None else seen.digest(event_id)
        if key is not None and key in seen:
            self.metrics.duplicates.labels(line.id).inc()
            if on_stored is not None:
                self.writer.put(on_stored)  # after the next commit, so after the first copy's
            return Intake("duplicate")
        event_ts = parse_time(ts, received)
        if reason is not None and reason not in line.reasons:
            raise RejectedReading("unknown_reason", f"line {line.id!r} has no reason code {reason[:64]!r}")
        before = (normaliser.state.value, normaliser.state.pending)
        outcome = normaliser.accept(
            value, event_ts, kind, parts_per_cycle=None if increment else line.parts_per_cycle_at(event_ts)
        )
        if key is not None:
            seen.add(key)
        self.metrics.accept(line.id)
        for incident in outcome.incidents:
            log.info("line %s source %s: %s %s -> %s %s", line.id, source_id, incident.kind,
                     incident.old_value, incident.new_value, incident.note)
            self.writer.put(IncidentRecord(
                line.id, source_id, event_ts, incident.kind, incident.old_value, incident.new_value,
                incident.note,
            ))
        after = (normaliser.state.value, normaliser.state.pending)
        if after != before:
            self.writer.put(CounterUpdate(line.id, source_id, after[0], after[1], received))
        if outcome.count > 0:
            instance = line.calendar.at(event_ts)
            if instance is not None and not line.is_primed(instance) and self.writer.fault is None:
                self.writer.flush()  # so the shift's first load sees every earlier event
                line.prime(instance)
            line.add(event_ts, outcome.count, outcome.kind, outcome.flags | flags)
            self.metrics.count_parts(line.id, outcome.kind, outcome.count)
            if outcome.kind == "scrap":
                reason = reason or line.scrap_reasons.get(source_id)
            pending = PendingEvent(
                line.id, source_id, event_ts, received, outcome.count, outcome.kind, event_id,
                outcome.flags | flags, on_stored, urgent=urgent, reason=reason if outcome.kind == "scrap" else None,
            )
            self.writer.put(pending)
            return Intake("accepted", count=outcome.count, pending=pending)
        if on_stored is not None:
            self.writer.put(on_stored)
        return Intake("accepted", count=outcome.count)

    def _signal(
        self, line: LineRuntime, source_id: str, value: Any, ts: Any, received: float,
        on_stored: Callable[[], None] | None,
    ) -> Intake:
        """Take a run signal or a fault code (sources with a role): a stop fact, not parts."""
        event_ts = parse_time(ts, received)
        if line.roles[source_id] == "run_signal":
            running = as_boolean(value)
            if line.run_signal(source_id, event_ts, running):
                self.writer.put(IncidentRecord(line.id, source_id, event_ts, RUN_ON if running else RUN_OFF))
                self._later(on_stored)
                self.notify(line.id)
            else:
                self._later(on_stored)
            return Intake("accepted")
        code = fault_reason(line.fault_codes[source_id], value)
        if self._faults.get((line.id, source_id)) != code:
            self._faults[(line.id, source_id)] = code
            for listener in list(self.reason_listeners):
                try:
                    listener(line.id, code, event_ts, f"plc:{source_id}")
                except Exception:
                    log.exception("a stop reason listener failed")
        self._later(on_stored)
        return Intake("accepted")

    def _later(self, on_stored: Callable[[], None] | None) -> None:
        if on_stored is not None:
            self.writer.put(on_stored)

    def device_reason(self, line_id: str, code: str, ts: Any, by: str) -> None:
        """Take a stop reason named by a device (a simulated line, a gateway) for the stop at ``ts``."""
        line = self.line(line_id)
        if code not in line.reasons:
            raise RejectedReading("unknown_reason", f"line {line_id!r} has no reason code {code[:64]!r}")
        event_ts = parse_time(ts, self.clock.now())
        for listener in list(self.reason_listeners):
            listener(line_id, code, event_ts, by)

    def post_count(
        self, line_id: str, count: Any, ts: Any = None, event_id: str | None = None,
        kind: str = "good", manual: bool = False, buffered: bool = False, source_id: str = HTTP_SOURCE,
        marks: Iterable[str] = (), reason: str | None = None,
    ) -> Intake:
        """Take a count posted over HTTP and answer once it is committed (or refused).

        Raise StorageUnavailable (503) when storage cannot write, so the sender keeps the count:
        a count not committed within COMMIT_WAIT_SECONDS is withdrawn, never written later.
        """
        self.line(line_id)
        self.writer.check()
        flags = (MANUAL if manual else 0) | (BUFFERED if buffered else 0)
        for mark in marks:
            flags |= FLAG_BITS[mark]
        done = threading.Event()
        result = self.intake(
            line_id, source_id, count, ts=ts, event_id=event_id, kind=kind, flags=flags, increment=True,
            on_stored=done.set, urgent=True, reason=reason,
        )
        if result.status == "duplicate":
            # Answer only once the first copy is committed (the queued callback runs after it).
            if not done.wait(COMMIT_WAIT_SECONDS):
                raise StorageUnavailable(f"storage cannot write: {self.writer.fault or 'no commit in time'}")
            return result
        if result.pending is None:
            return result
        outcome = self.writer.settle(result.pending, done, COMMIT_WAIT_SECONDS)
        if outcome == STORED:
            return result
        if outcome == CANCELLED:
            self._withdraw(result.pending)
            raise StorageUnavailable(f"storage cannot write: {self.writer.fault or 'no commit in time'}")
        return Intake("rejected", reason="unstorable", message=f"the database refused the count: {outcome}")

    def _refused_by_storage(self, item: Item, reason: str) -> None:
        """Undo what an item the database refused had changed in memory."""
        if isinstance(item, PendingEvent):
            self.metrics.unstorable.labels(item.line_id).inc()
            self._withdraw(item)

    def _withdraw(self, event: PendingEvent) -> None:
        line = self.lines.get(event.line_id)
        if line is None:
            return
        # Not under the intake lock: the writer calls this, and intake may be waiting on the writer.
        line.add(event.ts, -event.count, event.kind, 0)
        if event.event_id is not None:
            self.seen[line.id].discard(event.event_id)
        self.notify(line.id)

    def set_source_online(self, line_id: str, source_id: str, online: bool, detail: str = "") -> None:
        """Record a source going offline or coming back; log each change once."""
        line = self.line(line_id)
        if line.set_online(source_id, online, detail):
            # Recorded so boards can mark the rows the outage covers as having a gap.
            self.writer.put(IncidentRecord(
                line_id, source_id, self.clock.now(), "online" if online else "offline", note=detail[:500],
            ))
            if online:
                log.info("line %s source %s is back online", line_id, source_id)
            else:
                log.error("line %s source %s offline: %s", line_id, source_id, detail)
            self.notify(line_id)

    def report_source(self, line_id: str, source_id: str, online: bool, detail: str = "") -> None:
        """Take a source's health reported from afar (an edge): a heartbeat, and a change if any."""
        line = self.line(line_id)
        line.seen(source_id, self.clock.now())
        self.set_source_online(line_id, source_id, online, detail)

    def set_override(
        self, line_id: str, date: str, shift_id: str, takt_seconds: float | None,
        demand_per_shift: int | None, set_by: str,
    ) -> None:
        """Store and apply a takt or demand override for one shift."""
        line = self.line(line_id)
        self.store.set_override(line_id, date, shift_id, takt_seconds, demand_per_shift, set_by, self.clock.now())
        line.set_override((date, shift_id), Target(takt_seconds, demand_per_shift))
        self.notify(line_id)

    @contextlib.contextmanager
    def counts_held(self) -> Iterator[None]:
        """Hold the count intake and write what it accepted: a change to a line's runs then sees every count so far."""
        with self._intake_lock:
            if self.writer.fault is None:
                self.writer.flush()
            yield

    def product_reading(
        self, line_id: str, source_id: str, value: Any, *, ts: Any = None, on_stored: Callable[[], None] | None = None,
    ) -> None:
        """Take a product source's reading (it selects the product); refused when no product service listens."""
        line = self.line(line_id)
        line.seen(source_id, self.clock.now())
        if self.products is None or source_id not in line.product_sources:
            self.metrics.rejected.labels(line_id, "product_source").inc()
            self._warn_once(line_id, source_id, "product_source", "no product service takes this source's readings")
            if on_stored is not None:
                on_stored()
            return
        self.products.reading(line_id, source_id, value, ts=ts, on_stored=on_stored)

    def sink(self, line_id: str, source_id: str) -> SourceSink:
        """Return the ReadingSink a driver of this line's source delivers to."""
        self.line(line_id)
        return SourceSink(self, line_id, source_id)

    def close(self, timeout: float = 15.0) -> int:
        """Write everything queued and stop the writer; return how many count events stayed unwritten."""
        return self.writer.close(timeout)

    def refuse(self, line_id: str, source_id: str, reason: str, message: str) -> None:
        """Count a refused reading by reason (``andon_events_rejected_total``) and log it, once per reason at WARNING.

        The intake calls it for what it refuses; the API for a count request it could not even read."""
        self.metrics.rejected.labels(line_id, reason).inc()
        self._warn_once(line_id, source_id, reason, message)

    def _warn_once(self, line_id: str, source_id: str, reason: str, message: str) -> None:
        key = (line_id, source_id, reason)
        if key in self._warned:
            log.debug("line %s source %s: reading rejected: %s", line_id, source_id, message)
        else:
            self._warned.add(key)
            log.warning("line %s source %s: reading rejected: %s (further ones at DEBUG)",
                        line_id, source_id, message)


def checked_event_id(raw: object) -> str:
    """Return an event id as text, or refuse one that cannot be stored as it is."""
    event_id = str(raw)
    if len(event_id) > 128:
        raise RejectedReading("bad_id", "event id is longer than 128 characters")
    if "\x00" in event_id:
        raise RejectedReading("bad_id", "event id holds a NUL character")
    try:
        event_id.encode("utf-8")
    except UnicodeEncodeError:
        raise RejectedReading("bad_id", f"event id {event_id[:40]!r} holds a lone surrogate") from None
    return event_id
