"""Edge mode: read a few lines' sources at the line, count there, and forward to the server.

Readings are normalised at the edge (``collector.edge_counter``), queued on disk in the same
transaction, acknowledged to their source (MQTT QoS 1) only after that commit, and forwarded in
order over HTTP (``collector.forwarder``). An event leaves the queue only once the server has
answered for it; every event carries a stable id, so a retry after a lost answer is counted once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from andon import failover
from andon.clock import Clock, SystemClock
from andon.config.schema import Config
from collector.edge_counter import EdgeCounter, Reading
from collector.edge_hardware import EdgeHardware
from collector.edge_queue import EdgeQueue
from collector.edge_status import StatusReporter
from collector.forwarder import Forwarder
from collector.sources import SourceRunner
from devices.connections import Connections, edge_broker

log = logging.getLogger(__name__)

EDGE_NAME = re.compile(r"^[A-Za-z0-9_.]{1,40}$")


class EdgeSink:
    """The ReadingSink of one source at the edge."""

    def __init__(self, edge: Edge, line_id: str, source_id: str) -> None:
        self.edge = edge
        self.line_id = line_id
        self.source_id = source_id

    def reading(
        self, value: Any, *, ts: Any = None, event_id: str | None = None, kind: str | None = None,
        on_stored: Callable[[], None] | None = None, reason: str | None = None,
    ) -> None:
        """Queue one reading; ``on_stored`` runs once it is on disk at the edge.

        A scrap reason read from a payload is not forwarded by an edge (its queue keeps counts, not
        reasons): the count goes on, and the first such reading is logged at WARNING.
        """
        if reason is not None and not self.edge.warned_reason:
            self.edge.warned_reason = True
            log.warning("line %s source %s: scrap reason %r read from a payload; an edge forwards the count "
                        "without it (read the source with andon run to keep payload reasons)",
                        self.line_id, self.source_id, reason[:64])
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
        self.warned_reason = False  # a payload's scrap reason was dropped (logged once)
        self.store = EdgeQueue(queue_path)
        held = self.store.mark_buffered()
        if held:
            log.info("%d count event(s) from before the restart are waiting for the server", held)
        self.edge_id = f"{name}.{self.store.token}"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # One server, or an active/standby pair (comma-separated): each request follows the active one.
        self.servers = failover.servers(server)
        self.client = failover.async_client(self.servers, headers=headers, timeout=timeout)
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
                 ", ".join(self.servers), self.store.path)

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
