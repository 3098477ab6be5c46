"""Edge mode: read a few lines' sources at the line, count there, and forward to the server.

Readings are normalised at the edge (a cumulative counter's last value lives in the edge's own
SQLite file, so parts made while the edge was down are credited when it comes back), queued on
disk in the same transaction, acknowledged to their source (MQTT QoS 1) only after that commit,
and forwarded in order over HTTP. An event leaves the queue only once the server has answered for
it; every event carries a stable id, so a retry after a lost answer is counted once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import re
import signal
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from andon.clock import Clock, SystemClock
from andon.config.schema import Config
from andon.counting import FLAG_NAMES, CounterState, Normaliser, RejectedReading, parse_time
from collector.edge_queue import EdgeQueue, QueuedEvent, StoredEvent
from collector.edge_status import StatusReporter
from collector.sources import SourceRunner
from devices.connections import Connections, edge_broker

if TYPE_CHECKING:
    from collector.hardware import EdgeHardware

log = logging.getLogger(__name__)

# What an edge's counter saw, passed on so the server's board can mark the rows.
EDGE_MARKS = ("credited_after_outage", "after_reset", "rollover")

MAX_COUNT_PER_EVENT = 10_000  # the server refuses a single count above its HTTP source's max_jump
EDGE_NAME = re.compile(r"^[A-Za-z0-9_.]{1,40}$")


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


class Forwarder:
    """Send queued events to the server in order; hold them while it is away."""

    def __init__(
        self, store: EdgeQueue, client: httpx.AsyncClient, edge_id: str, clock: Clock,
        batch: int = 200, retry_min: float = 0.2, retry_max: float = 30.0,
    ) -> None:
        self.store = store
        self.client = client
        self.edge_id = edge_id
        self.clock = clock
        self.batch = batch
        self.retry_min = retry_min
        self.retry_max = retry_max
        self.away = False
        self.fault: str | None = None
        self.sent = 0
        self.duplicates = 0
        self.refused = 0
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def event_id(self, stored: StoredEvent) -> str:
        """Return the id the server dedupes this event by: the source's, else one made here."""
        e = stored.event
        return e.event_id or f"{self.edge_id}-{e.line}-{e.source}-{stored.seq}"

    def wake(self) -> None:
        """Say that new events are queued (any thread)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        """Forward until cancelled."""
        self._loop = asyncio.get_running_loop()
        delay = self.retry_min
        while True:
            self._wake.clear()
            pending = await asyncio.to_thread(self.store.oldest, self.batch)
            if not pending:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=1.0)
                continue
            done: list[int] = []
            reached = True
            for stored in pending:
                outcome = await self._send(stored)
                if outcome == "away":
                    reached = False
                    break
                if outcome == "sent":
                    done.append(stored.seq)
            await asyncio.to_thread(self.store.remove, done)
            if reached:
                delay = self.retry_min
                continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.retry_max)

    async def _send(self, stored: StoredEvent) -> str:
        e = stored.event
        body: dict[str, Any] = {"count": e.count, "ts": e.ts, "id": self.event_id(stored), "kind": e.kind,
                                "source": e.source, "buffered": stored.buffered}
        marks = [name for bit, name in FLAG_NAMES.items() if e.flags & bit and name in EDGE_MARKS]
        if marks:
            body["marks"] = marks
        try:
            reply = await self.client.post(f"/api/lines/{e.line}/counts", json=body)
        except httpx.HTTPError as exc:
            await self._went_away(f"server unreachable: {type(exc).__name__} {exc}".strip())
            return "away"
        status = reply.status_code
        if status in (200, 201):
            self._back()
            if status == 200:
                self.duplicates += 1
            else:
                self.sent += 1
            return "sent"
        detail = _detail(reply)
        if status in (401, 403) or status == 429 or status >= 500:
            # Fixable on the server (token, overload, crash): keep the event and retry.
            await self._went_away(f"server answered {status}: {detail}")
            return "away"
        self._back()
        self.refused += 1
        log.error("server refused %s of line %s source %s for good (%s: %s); kept in the queue file's "
                  "refused table", body["id"], e.line, e.source, status, detail)
        await asyncio.to_thread(self.store.refuse, stored, status, detail, self.clock.now())
        return "refused"

    async def _went_away(self, reason: str) -> None:
        if not self.away:
            self.away = True
            queued = await asyncio.to_thread(self.store.mark_buffered)
            log.error("%s; holding %d count event(s) on disk and retrying", reason, queued)
        elif reason != self.fault:
            log.error("%s", reason)
        else:
            log.debug("%s (still)", reason)
        self.fault = reason

    def _back(self) -> None:
        if self.away:
            log.info("server reachable again; forwarding the held count events in order")
        self.away = False
        self.fault = None


def _detail(reply: httpx.Response) -> str:
    try:
        return str(reply.json().get("detail", reply.text))[:300]
    except ValueError:
        return reply.text[:300]


class EdgeSink:
    """The ReadingSink of one source at the edge."""

    def __init__(self, edge: Edge, line_id: str, source_id: str) -> None:
        self.edge = edge
        self.line_id = line_id
        self.source_id = source_id

    def reading(
        self, value: Any, *, ts: Any = None, event_id: str | None = None, kind: str | None = None,
        on_stored: Callable[[], None] | None = None,
    ) -> None:
        """Queue one reading; ``on_stored`` runs once it is on disk at the edge."""
        self.edge.counter.put(Reading(
            self.line_id, self.source_id, value, ts, None if event_id is None else str(event_id), kind,
            self.edge.clock.now(), on_stored,
        ))

    def online(self) -> None:
        """Record that the source answers (logged once on recovery)."""
        self.edge.set_online(self.line_id, self.source_id, True, "")

    def offline(self, reason: str) -> None:
        """Record that the source does not answer (logged once)."""
        self.edge.set_online(self.line_id, self.source_id, False, reason)


class Edge:
    """A line-side collector: its lines' sources, a durable queue, and a forwarder to the server."""

    def __init__(
        self, config: Config, line_ids: list[str], server: str, queue_path: str | Path,
        token: str | None = None, name: str = "edge", clock: Clock | None = None,
        timeout: float = 5.0, retry_max: float = 30.0, status_seconds: float = 10.0,
    ) -> None:
        known = [line.id for line in config.lines]
        unknown = [line_id for line_id in line_ids if line_id not in known]
        if unknown or not line_ids:
            raise ValueError(f"unknown line(s) {unknown}; the config has {known}" if unknown else "no line named")
        if not EDGE_NAME.match(name):
            raise ValueError(f"edge name {name!r}: use 1-40 letters, digits, '_' or '.'")
        self.config = config
        self.line_ids = list(line_ids)
        self.clock = clock or SystemClock()
        self.store = EdgeQueue(queue_path)
        held = self.store.mark_buffered()
        if held:
            log.info("%d count event(s) from before the restart are waiting for the server", held)
        self.edge_id = f"{name}.{self.store.token}"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.AsyncClient(base_url=server.rstrip("/"), headers=headers, timeout=timeout)
        self.forwarder = Forwarder(self.store, self.client, self.edge_id, self.clock, retry_max=retry_max)
        self.counter = EdgeCounter(
            config, self.line_ids, self.store, self.clock, lambda: self.forwarder.away, self.forwarder.wake
        )
        # Its own client id: the server (or another edge) on the same broker must not take over our session.
        self.connections = Connections(self.clock, mqtt=edge_broker(config.mqtt, name))
        self.runner = SourceRunner(config, self.sink, self.clock, line_ids=self.line_ids, connections=self.connections)
        self.sources: dict[tuple[str, str], tuple[bool, str]] = {}
        self._status_lock = threading.Lock()
        self.status = StatusReporter(self.client, self._statuses, status_seconds)
        self._tasks: list[asyncio.Task[None]] = []

    def sink(self, line_id: str, source_id: str) -> EdgeSink:
        """Return the sink a driver of this line's source delivers to."""
        return EdgeSink(self, line_id, source_id)

    def _statuses(self) -> dict[tuple[str, str], tuple[bool, str]]:
        with self._status_lock:
            return dict(self.sources)

    def set_online(self, line_id: str, source_id: str, online: bool, detail: str) -> None:
        """Record a source's health; log each change once."""
        key = (line_id, source_id)
        with self._status_lock:
            previous = self.sources.get(key)
            self.sources[key] = (online, detail)
        if previous == (online, detail):
            return
        self.status.changed()
        if online and previous is not None and not previous[0]:
            log.info("line %s source %s is back online", line_id, source_id)
        elif not online:
            log.error("line %s source %s offline: %s", line_id, source_id, detail)

    async def start(self) -> None:
        """Start forwarding and reading."""
        self._tasks.append(asyncio.create_task(self.forwarder.run(), name="edge forwarder"))
        self._tasks.append(asyncio.create_task(self.status.run(), name="edge source health"))
        await self.runner.start()
        log.info("edge %s collecting lines %s for %s (queue %s)", self.edge_id, ", ".join(self.line_ids),
                 self.client.base_url, self.store.path)

    async def stop(self, step_seconds: float = 5.0) -> None:
        """Stop reading, commit what was read, stop forwarding and close the queue; each step is bounded.

        Readings handed over are committed before the sources disconnect, so MQTT acknowledgements
        still reach the broker; a step that hangs (a PLC or server that does not answer) is left
        behind after ``step_seconds`` with an ERROR line, and the queue on disk keeps every count.
        """
        await _bounded("committing the last readings", asyncio.to_thread(self.counter.flush, step_seconds),
                       step_seconds + 1)
        await _bounded("the sources", self.runner.stop(), step_seconds)
        await _bounded("the counter", asyncio.to_thread(self.counter.close, step_seconds), step_seconds + 1)
        for task in self._tasks:
            task.cancel()
        await _bounded("forwarding", asyncio.gather(*self._tasks, return_exceptions=True), step_seconds)
        self._tasks.clear()
        await _bounded("the HTTP client", self.client.aclose(), step_seconds)
        log.info("edge stopped; %d count event(s) wait on disk for the server", self.store.size())
        self.store.close()

    async def run(self) -> None:
        """Run until cancelled (Ctrl-C or SIGTERM), then stop cleanly."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()


async def _bounded(step: str, awaitable: Awaitable[Any], seconds: float) -> None:
    """Await one shutdown step for at most ``seconds``; log instead of raising."""
    try:
        await asyncio.wait_for(awaitable, seconds)
    except TimeoutError:
        log.error("stopping the edge: %s took longer than %.0f s; going on without it", step, seconds)
    except Exception:
        log.exception("stopping the edge: %s failed", step)


def run_edge(edge: Edge, hardware: EdgeHardware | None = None) -> None:
    """Run an edge (and its lines' lights and buttons) in a fresh event loop until SIGINT or SIGTERM."""

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            if hardware is None:
                await edge.run()
            else:
                await asyncio.gather(edge.run(), hardware.run())

    asyncio.run(main())
