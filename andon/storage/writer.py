"""The event writer: count events committed in batches on a thread of its own, which no item can stop.

A batch that fails is told apart from storage that fails by a probe write: when the probe works,
the batch holds an item the database refuses, so it is split until that item is found; the item
is rejected with a reason and everything else commits. When the probe fails too, storage is down:
the batch is kept and retried, the writer reports the fault (``/healthz`` answers 503), and it
clears the fault by itself once a write works again.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from andon.errors import StorageUnavailable

log = logging.getLogger(__name__)

STORED = "stored"
CANCELLED = "cancelled"


@dataclass(eq=False)
class PendingEvent:
    """A count event waiting to be written, with the callback to run once it is stored or refused."""

    line_id: str
    source_id: str
    ts: float
    received_at: float
    count: int
    kind: str
    event_id: str | None
    flags: int
    on_stored: Callable[[], None] | None = None
    urgent: bool = False  # someone waits on this commit (an HTTP answer): do not hold the batch open
    outcome: str | None = None  # None while queued; STORED, CANCELLED, or the reason it was refused
    reason: str | None = None  # scrap reason code


@dataclass(frozen=True)
class CounterUpdate:
    """The last value (and pending jump) of a cumulative counter, persisted with the events it produced."""

    line_id: str
    source_id: str
    value: int | None
    pending: int | None
    updated_at: float


@dataclass(frozen=True)
class IncidentRecord:
    """A counter incident or a source going offline/online, kept for the board's trust marks."""

    line_id: str
    source_id: str
    ts: float
    kind: str
    old_value: int | None = None
    new_value: int | None = None
    note: str = ""


Item = PendingEvent | CounterUpdate | IncidentRecord


@dataclass
class PendingBatch:
    """Everything one commit writes: events, counter values and incidents."""

    events: list[PendingEvent] = field(default_factory=list)
    counters: dict[tuple[str, str], CounterUpdate] = field(default_factory=dict)
    incidents: list[IncidentRecord] = field(default_factory=list)

    @classmethod
    def of(cls, items: list[Item]) -> PendingBatch:
        """Group items into one batch (a counter's last value wins)."""
        batch = cls()
        for item in items:
            if isinstance(item, PendingEvent):
                batch.events.append(item)
            elif isinstance(item, CounterUpdate):
                batch.counters[(item.line_id, item.source_id)] = item
            else:
                batch.incidents.append(item)
        return batch


class BatchStore(Protocol):
    """What the writer needs of the store."""

    def write(self, batch: PendingBatch) -> None:
        """Write one batch in one transaction."""
        ...

    def probe(self) -> None:
        """Make a tiny write that fails when storage cannot write."""
        ...


class EventWriter:
    """Write count events in batches on a thread of its own; run callbacks after each commit."""

    def __init__(
        self, store: BatchStore, max_batch: int = 2000, max_delay: float = 0.025,
        probe_seconds: float = 5.0, retry_seconds: float = 1.0,
    ) -> None:
        # max_delay: a batch's window. A commit has a fixed cost, so a longer window is less CPU a count (at
        # 1,000 msg/s, 10 ms → 40 ms took andon run from 81-84 % to 72-77 % of a core). It delays only the
        # acknowledgement: the state shows a count when it is tallied, and an HTTP sender that waits closes the
        # window at once. With 25 ms, a broker's default in-flight window of 20 passes under 800 counts a second.
        self.store = store
        self.max_batch = max_batch
        self.max_delay = max_delay
        self.probe_seconds = probe_seconds
        self.retry_seconds = retry_seconds
        self.on_refused: Callable[[Item, str], None] = lambda _item, _reason: None
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._stop = object()
        self._abandon = threading.Event()
        self._wake = threading.Event()  # cuts a batch window short: an urgent event, a flush, the stop
        self._commit_lock = threading.Lock()  # held while a write is in flight; cancel() waits on it
        self._fault: str | None = None
        self._fault_since: float | None = None
        self._count_lock = threading.Lock()
        self._queued = 0  # events put so far
        self._settled = 0  # events stored, refused or cancelled
        self.failures = 0
        self.written = 0
        self.refused = 0
        self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)
        self._thread.start()

    # --- any thread ------------------------------------------------------------------------
    @property
    def fault(self) -> str | None:
        """Say why storage cannot write right now (None while it can)."""
        return self._fault

    @property
    def fault_since(self) -> float | None:
        """Return when the current storage fault began (monotonic seconds)."""
        return self._fault_since

    @property
    def unwritten(self) -> int:
        """Return how many queued count events are not yet stored, refused or cancelled."""
        with self._count_lock:
            return self._queued - self._settled

    def put(self, item: Item | Callable[[], None]) -> None:
        """Queue an event, a counter value, an incident, or a callback to run after the next commit."""
        if isinstance(item, PendingEvent):
            with self._count_lock:
                self._queued += 1
        self._queue.put(item)
        if isinstance(item, PendingEvent) and item.urgent:
            self._wake.set()  # someone waits on its commit: close the batch window now

    def check(self) -> None:
        """Raise StorageUnavailable while storage cannot write."""
        fault = self._fault
        if fault is not None:
            raise StorageUnavailable(f"storage cannot write: {fault}")

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything queued so far is committed; raise StorageUnavailable if it cannot be."""
        self.check()
        done = threading.Event()
        self._queue.put(done.set)
        self._wake.set()
        if not done.wait(timeout):
            raise StorageUnavailable(f"storage did not commit within {timeout:g} s: {self._fault or 'busy'}")

    def settle(self, event: PendingEvent, done: threading.Event, timeout: float) -> str:
        """Wait for an event's commit (``done`` is set by its on_stored); cancel it if still unwritten.

        Return its outcome: STORED, CANCELLED (not written, and now never will be) or the reason
        the database refused it.
        """
        deadline = time.monotonic() + timeout
        while not done.wait(0.05):
            if self._fault is not None or time.monotonic() >= deadline:
                break  # storage is down (or too slow): withdraw it rather than keep the sender waiting
        with self._commit_lock:
            if event.outcome is None:
                event.outcome = CANCELLED  # the writer skips it; the caller says 503, the sender keeps it
                self._settle(1)
            return event.outcome

    def _settle(self, n: int) -> None:
        with self._count_lock:
            self._settled += n

    def close(self, timeout: float = 15.0) -> int:
        """Write what is queued and stop the thread; give up after ``timeout``. Return events left unwritten."""
        self._queue.put(self._stop)
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._abandon.set()
            self._thread.join(5)
        return self.unwritten

    # --- the writer thread -----------------------------------------------------------------
    def _run(self) -> None:
        self._probe()
        stopping = False
        while not stopping:
            items: list[Item] = []
            callbacks: list[Callable[[], None]] = []
            try:
                item = self._queue.get(timeout=self.probe_seconds if self._fault is None else self.retry_seconds)
            except queue.Empty:
                self._probe()  # idle: find a read-only or full disk before a count or a call does
                continue
            # A batch closes max_delay after it opened (or when full, or at once when someone waits on it):
            # a steady stream must not keep extending it, since sources wait for the commit to acknowledge.
            deadline = time.monotonic() + self.max_delay
            urgent = False
            self._wake.clear()  # a wake-up left from a batch already written
            while True:
                if item is self._stop:
                    stopping = True
                elif isinstance(item, PendingEvent | CounterUpdate | IncidentRecord):
                    items.append(item)
                    urgent = urgent or (isinstance(item, PendingEvent) and item.urgent)
                elif callable(item):
                    callbacks.append(item)
                else:
                    log.error("event writer dropped an item it cannot read: %.200r", item)
                if stopping or len(items) >= self.max_batch:
                    break
                following = self._next(urgent or not items, deadline)
                if following is None:
                    break
                item = following
            finished = self._commit(items)
            if not finished:
                # Given up at shutdown with storage down: nothing unwritten is acknowledged, so
                # brokers redeliver and HTTP senders, unanswered, keep their counts.
                callbacks = []
                items = [i for i in items if isinstance(i, PendingEvent) and i.outcome == STORED]
                stopping = True
            for callback in callbacks + [e.on_stored for e in items
                                         if isinstance(e, PendingEvent) and e.on_stored is not None]:
                try:
                    callback()
                except Exception:  # a driver's ack failing must not stop the writer
                    log.exception("a stored-callback failed")

    def _next(self, at_once: bool, deadline: float) -> object | None:
        """Return the next queued item, waiting out the batch window unless ``at_once``; None when none came.

        The window is waited out on ``_wake``, which only an urgent event, a flush or the stop sets: a
        stream of counts does not wake the writer once per count (each wake-up is a context switch and
        a hand-over of the interpreter lock), it is taken whole when the window closes.
        """
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            pass
        if at_once:
            return None
        remaining = deadline - time.monotonic()
        if remaining > 0 and self._wake.wait(remaining):
            self._wake.clear()
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return None

    def _commit(self, items: list[Item]) -> bool:
        """Write items, splitting out what the database refuses; return False if given up at shutdown."""
        parts = [items] if items else []
        while parts:
            part = parts.pop()
            with self._commit_lock:
                part = [i for i in part if not (isinstance(i, PendingEvent) and i.outcome == CANCELLED)]
                if not part:
                    continue
                error = self._try_write(part)
                if error is None:
                    self._stored(part)
                    continue
            if not self._probe():
                parts.append(part)  # storage is down: keep everything and retry
                if self._abandon.wait(self.retry_seconds):
                    log.error("giving up at shutdown with %d count event(s) unwritten: %s",
                              self.unwritten, self._fault)
                    return False
                continue
            if len(part) == 1:
                # Storage works: refuse the item, unless a second try (a passing lock) writes it.
                with self._commit_lock:
                    only = part[0]
                    if isinstance(only, PendingEvent) and only.outcome == CANCELLED:
                        continue
                    again = self._try_write(part)
                    if again is None:
                        self._stored(part)
                        continue
                if self._probe():
                    with self._commit_lock:
                        if not (isinstance(only, PendingEvent) and only.outcome == CANCELLED):
                            self._refuse(only, again)
                else:
                    parts.append(part)
            else:  # storage works, so an item in here is what the database refuses: find it
                middle = len(part) // 2
                parts.append(part[middle:])
                parts.append(part[:middle])
        return True

    def _stored(self, part: list[Item]) -> None:
        events = 0
        for i in part:
            if isinstance(i, PendingEvent):
                i.outcome = STORED
                events += 1
        self.written += events
        self._settle(events)
        self._recovered()

    def _try_write(self, part: list[Item]) -> Exception | None:
        try:
            self.store.write(PendingBatch.of(part))
        except Exception as exc:
            self.failures += 1
            return exc
        return None

    def _refuse(self, item: Item, error: Exception) -> None:
        reason = f"{type(error).__name__}: {str(error).splitlines()[0][:160] if str(error) else ''}"
        self.refused += 1
        log.error("the database refused an item; dropped, everything else is written (%s): %.300r", reason, item)
        if isinstance(item, PendingEvent):
            item.outcome = reason
            self._settle(1)
        try:
            self.on_refused(item, reason)
        except Exception:
            log.exception("handling a refused item failed")

    def _probe(self) -> bool:
        try:
            self.store.probe()
        except Exception as exc:
            self._down(exc)
            return False
        self._recovered()
        return True

    def _down(self, exc: Exception) -> None:
        reason = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        reason = reason.removeprefix("(sqlite3.OperationalError) ")
        if self._fault is None:
            self._fault_since = time.monotonic()
            log.error("storage cannot write (%s); holding counts and retrying every %g s",
                      reason, self.retry_seconds)
        elif reason != self._fault:
            log.error("storage still cannot write: %s", reason)
        self._fault = reason

    def _recovered(self) -> None:
        if self._fault is not None:
            log.info("storage writes again after %.0f s; writing the held counts",
                     time.monotonic() - (self._fault_since or time.monotonic()))
            self._fault = None
            self._fault_since = None
