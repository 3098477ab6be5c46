"""POST andon raises and escalations to a webhook URL, retried with backoff, never blocking the engine."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

log = logging.getLogger(__name__)

EVENTS = ("raised", "escalated")


class WebhookSender:
    """Queue andon events for their line's webhook and deliver them from one background task."""

    def __init__(
        self, urls: dict[str, str], *, attempts: int = 8,
        backoff_seconds: float = 1.0, max_backoff_seconds: float = 60.0, timeout_seconds: float = 5.0,
        queue_size: int = 1000,
    ) -> None:
        self.urls = urls
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.timeout_seconds = timeout_seconds
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(queue_size)
        self.delivered = 0
        self.failed = 0
        self._task: asyncio.Task[None] | None = None

    def on_event(self, message: dict[str, Any]) -> None:
        """Take an event from the hub (on the loop); queue it when its line has a webhook."""
        if message.get("type") != "andon" or message.get("event") not in EVENTS:
            return
        url = self.urls.get(str(message.get("call", {}).get("line")))
        if url is None:
            return
        try:
            self.queue.put_nowait((url, message))
        except asyncio.QueueFull:
            self.failed += 1
            log.error("webhook queue full (%d events): dropping andon event for %s", self.queue.maxsize, url)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start delivering from ``loop``."""
        self._task = loop.create_task(self._deliver_forever(), name="andon webhook")

    async def stop(self) -> None:
        """Stop delivering (queued events are not sent)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _deliver_forever(self) -> None:
        async with httpx.AsyncClient(timeout=self.timeout_seconds) as client:
            while True:
                url, message = await self.queue.get()
                await self._deliver(client, url, message)

    async def _deliver(self, client: httpx.AsyncClient, url: str, message: dict[str, Any]) -> None:
        delay = self.backoff_seconds
        for attempt in range(1, self.attempts + 1):
            try:
                reply = await client.post(url, json=message)
                if reply.status_code < 300:
                    self.delivered += 1
                    if attempt > 1:
                        log.info("webhook %s accepted andon event after %d attempts", url, attempt)
                    return
                problem = f"answered {reply.status_code}"
                if 400 <= reply.status_code < 500 and reply.status_code not in (408, 429):
                    self.failed += 1
                    log.error("webhook %s refused andon event: %s; not retrying", url, problem)
                    return
            except httpx.HTTPError as exc:
                problem = f"unreachable: {exc!r}"
            if attempt == 1:
                log.error("webhook %s %s; retrying with backoff", url, problem)
            else:
                log.debug("webhook %s %s (attempt %d)", url, problem, attempt)
            if attempt < self.attempts:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff_seconds)
        self.failed += 1
        log.error("webhook %s: gave up on an andon event after %d attempts", url, self.attempts)
