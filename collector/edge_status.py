"""Report an edge's source health to the server: on every change and as a heartbeat."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import httpx

log = logging.getLogger(__name__)

Statuses = dict[tuple[str, str], tuple[bool, str]]


class StatusReporter:
    """PUT each source's health to ``/api/lines/{line}/sources/{source}`` when it changes and every period.

    The server counts each report as a heartbeat, so with ``stale_after_seconds`` on a source a silent edge
    (powered off, cable pulled) turns its line stale there too.
    """

    def __init__(self, client: httpx.AsyncClient, statuses: Callable[[], Statuses], period: float = 10.0) -> None:
        self.client = client
        self.statuses = statuses
        self.period = period
        self.reported = 0
        self._changed = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._refused: set[tuple[str, str]] = set()

    def changed(self) -> None:
        """Ask for a report now (safe from any thread)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._changed.set)

    async def run(self) -> None:
        """Report until cancelled."""
        self._loop = asyncio.get_running_loop()
        while True:
            self._changed.clear()
            for (line_id, source_id), (online, detail) in sorted(self.statuses().items()):
                await self._report(line_id, source_id, online, detail)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), self.period)

    async def _report(self, line_id: str, source_id: str, online: bool, detail: str) -> None:
        key = (line_id, source_id)
        try:
            reply = await self.client.put(
                f"/api/lines/{line_id}/sources/{source_id}", json={"online": online, "detail": detail[:300]}
            )
        except httpx.HTTPError:
            return  # the server is away; the forwarder says so, and the next beat tries again
        if reply.status_code < 300:
            self.reported += 1
            self._refused.discard(key)
        elif key not in self._refused:
            self._refused.add(key)
            log.error(
                "server refused the health of line %s source %s: %s %s",
                line_id,
                source_id,
                reply.status_code,
                reply.text[:200],
            )
