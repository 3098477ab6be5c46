"""The edge's counter: normalise raw readings and commit them to the on-disk queue in batches.

A cumulative counter's last value lives in the edge's own SQLite file, committed in the same
transaction as the events it produced, so parts made while the edge was down are credited when it
comes back, and a crash can neither lose parts nor credit them twice.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from andon.clock import Clock
from andon.config.schema import Config
from andon.counting import CounterState, Normaliser, RejectedReading, parse_time
from collector.edge_queue import EdgeQueue, QueuedEvent

log = logging.getLogger(__name__)

MAX_COUNT_PER_EVENT = 10_000  # the server refuses a single count above its HTTP source's max_jump


@dataclass
class Reading:
    """A raw reading handed over by a driver, waiting to be normalised and queued."""

    line: str
    source: str
    value: Any
    ts: Any
    event_id: str | None
    kind: str | None
    received: float
    on_stored: Callable[[], None] | None


class EdgeCounter:
    """Normalise readings and commit them to the queue in batches, on a thread of its own.

    A reading's counter state and the events it produced are committed together, so a crash
    can neither lose parts nor credit them twice; ``on_stored`` callbacks run after the commit.
    """

    def __init__(
        self, config: Config, line_ids: list[str], store: EdgeQueue, clock: Clock,
        server_away: Callable[[], bool], committed: Callable[[], None],
        max_batch: int = 500, max_delay: float = 0.01,
    ) -> None:
        self.store = store
        self.clock = clock
        self.server_away = server_away
        self.committed = committed
        self.max_batch = max_batch
        self.max_delay = max_delay
        self.rejected: Counter[str] = Counter()
        self.queued = 0
        self.duplicates = 0
        self._warned: set[tuple[str, str, str]] = set()
        states = store.counter_states()
        self.normalisers: dict[tuple[str, str], Normaliser] = {}
        for line_id in line_ids:
            line = config.line(line_id)
            for source_id, source in zip(line.source_ids(), line.sources, strict=True):
                value, pending = states.get((line_id, source_id), (None, None))
                state = CounterState(value, pending, restored=value is not None)
                self.normalisers[(line_id, source_id)] = Normaliser(source, state)
        self._queue: queue.SimpleQueue[Reading | Callable[[], None] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="edge-counter", daemon=True)
        self._thread.start()

    def put(self, reading: Reading) -> None:
        """Queue a reading for the next commit (any thread)."""
        self._queue.put(reading)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every reading handed over so far is committed."""
        done = threading.Event()
        self._queue.put(done.set)
        if not done.wait(timeout):
            raise TimeoutError("edge counter did not flush in time")

    def close(self, timeout: float = 30.0) -> None:
        """Commit what is waiting and stop the thread (wait at most ``timeout`` seconds)."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch: list[Reading | Callable[[], None]] = []
            item = self._queue.get()
            while True:
                if item is None:
                    stopping = True
                    break
                batch.append(item)
                if len(batch) >= self.max_batch:
                    break
                try:
                    item = self._queue.get(timeout=self.max_delay)
                except queue.Empty:
                    break
            if batch:
                self._commit(batch)

    def _commit(self, batch: list[Reading | Callable[[], None]]) -> None:
        events: list[QueuedEvent] = []
        counters: dict[tuple[str, str], tuple[int | None, int | None]] = {}
        callbacks: list[Callable[[], None]] = []
        for item in batch:
            if isinstance(item, Reading):
                self._normalise(item, events, counters)
                if item.on_stored is not None:
                    callbacks.append(item.on_stored)
            else:
                callbacks.append(item)
        failures = 0
        while True:
            try:
                added = self.store.commit(events, counters, self.clock.now(), self.server_away())
                break
            except Exception:  # disk full or locked: keep the batch and retry, never drop a count
                failures += 1
                if failures == 1:
                    log.exception("queueing %d count events on disk failed; retrying", len(events))
                threading.Event().wait(1.0)
        if failures:
            log.info("queueing count events on disk works again")
        self.queued += added
        self.duplicates += len(events) - added
        for callback in callbacks:
            try:
                callback()
            except Exception:  # an acknowledgement failing must not stop the counter
                log.exception("a stored-callback failed")
        if events:
            self.committed()

    def _normalise(
        self, r: Reading, events: list[QueuedEvent], counters: dict[tuple[str, str], tuple[int | None, int | None]]
    ) -> None:
        key = (r.line, r.source)
        normaliser = self.normalisers[key]
        before = (normaliser.state.value, normaliser.state.pending)
        try:
            ts = parse_time(r.ts, r.received)
            outcome = normaliser.accept(r.value, ts, r.kind)
        except RejectedReading as exc:
            self.rejected[exc.reason] += 1
            warn_key = (r.line, r.source, exc.reason)
            level = logging.DEBUG if warn_key in self._warned else logging.WARNING
            self._warned.add(warn_key)
            log.log(level, "line %s source %s: reading rejected: %s", r.line, r.source, exc)
            after = (normaliser.state.value, normaliser.state.pending)
            if after != before:
                counters[key] = after
            return
        for incident in outcome.incidents:
            log.info("line %s source %s: %s %s -> %s %s", r.line, r.source, incident.kind,
                     incident.old_value, incident.new_value, incident.note)
        after = (normaliser.state.value, normaliser.state.pending)
        if after != before:
            counters[key] = after
        remaining = outcome.count
        part = 0
        while remaining > 0:
            n = min(remaining, MAX_COUNT_PER_EVENT)
            event_id = r.event_id if part == 0 or r.event_id is None else f"{r.event_id}~{part}"
            events.append(QueuedEvent(r.line, r.source, n, outcome.kind, outcome.ts, outcome.flags, event_id))
            remaining -= n
            part += 1
