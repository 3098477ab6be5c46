"""Forward an edge's queued count events to the server over HTTP, in order, holding them while it is away.

An event leaves the queue only once the server has answered for it; every event carries a stable
id, so a retry after a lost answer is counted once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import httpx

from andon.clock import Clock
from andon.counting import FLAG_NAMES
from collector.edge_queue import EdgeQueue, StoredEvent

log = logging.getLogger(__name__)

# What an edge's counter saw, passed on so the server's board can mark the rows.
EDGE_MARKS = ("credited_after_outage", "after_reset", "rollover")


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
