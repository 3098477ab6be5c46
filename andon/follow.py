"""Follow a server's live stream (``/ws``): the one follower of the Pi display and of an edge's lights.

It holds the whole client side of the stream: which URL (only an http:// or https:// server, with
no query: a token never goes in a URL), the token (an ``Authorization`` header on the upgrade, and
a first ``{"type": "auth"}`` message for a server that reads it there; one that took the header
ignores it), reconnecting with backoff on the clock it is given, the fault logged once and the
recovery once, and each JSON object the server sends handed to a callback. The stream counts as
connected from the first message on, so a server that accepts the upgrade and then refuses the
token never looks connected.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from andon.clock import Clock
from andon.failover import servers
from andon.payload import BadJson, excerpt, load_json
from devices.base import FaultLog

log = logging.getLogger(__name__)

MessageHandler = Callable[[Mapping[str, Any]], object]


def stream_url(server: str) -> str:
    """Return the WebSocket URL of a server's live stream (http -> ws, https -> wss); refuse any other URL."""
    parts = urlsplit(server.strip())
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"server URL {server!r} must start with http:// or https:// and name a host "
                         "(for example http://10.0.0.2:8000)")
    if parts.query or parts.fragment:
        raise ValueError(f"server URL {server!r} must not carry a query or fragment "
                         "(a token goes in --token or $ANDON_TOKEN, never in a URL)")
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}/ws"


def stream_urls(server: str) -> list[str]:
    """Return the stream URLs of one server or of several, comma-separated (an active/standby pair); refuse a
    list with any URL ``stream_url`` refuses."""
    return [stream_url(url) for url in servers(server)]


class StreamFollower:
    """Stay on a server's ``/ws`` stream and hand each JSON object it sends to ``on_message``.

    ``run`` follows until cancelled; between attempts it waits on ``clock`` (``retry_min`` doubling
    to ``retry_max``, back to ``retry_min`` once a stream came up). WebSocket pings every
    ``ping_seconds`` find a dead link within about twice that. ``meanwhile`` says in the fault line
    what the program does while the stream is down.
    """

    def __init__(
        self, server: str, on_message: MessageHandler, *, clock: Clock, token: str | None = None,
        name: str = "live stream", meanwhile: str = "retrying", retry_min: float = 0.5,
        retry_max: float = 30.0, ping_seconds: float = 5.0, open_timeout: float = 10.0,
    ) -> None:
        # Several servers (an active/standby pair, comma-separated): each attempt after a failure tries the next.
        self.urls = stream_urls(server)
        self._at = 0  # which of them is tried next (a position: a URL given twice is still two turns)
        self.on_message = on_message
        self.clock = clock
        self.token = token
        self.meanwhile = meanwhile
        self.retry_min = retry_min
        self.retry_max = retry_max
        self.ping_seconds = ping_seconds
        self.open_timeout = open_timeout
        self.attempts = 0  # connections tried
        self.connections = 0  # streams that came up
        self.retry_at: float | None = None  # while waiting to try again: when, on ``clock``
        self.faults = FaultLog(log, f"{name} {', '.join(self.urls)}")
        self._up = threading.Event()
        self._delay = retry_min
        self._warned = False

    @property
    def url(self) -> str:
        """Return the stream URL tried now (or next)."""
        return self.urls[self._at]

    @property
    def connected(self) -> bool:
        """Return True while the stream is open and the server has sent on it."""
        return self._up.is_set()

    def wait_connected(self, timeout: float) -> bool:
        """Block this thread until the stream is connected; return False after ``timeout`` seconds."""
        return self._up.wait(timeout)

    @property
    def headers(self) -> dict[str, str]:
        """Return the upgrade request's extra headers (the bearer token, when there is one)."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def run(self) -> None:
        """Follow the stream until cancelled, reconnecting with backoff."""
        while True:
            self.attempts += 1
            try:
                reason = await self._follow()
            except ConnectionClosed as exc:
                reason = _closed(exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else f"connection lost: {exc}"
            except (OSError, TimeoutError, WebSocketException) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            finally:
                self._up.clear()
            self.faults.fault(f"{reason}; {self.meanwhile}")
            self.retry_at = self.clock.now() + self._delay
            try:
                await self.clock.sleep(self._delay)
            finally:
                self.retry_at = None
            self._at = (self._at + 1) % len(self.urls)
            if self._at == 0:  # the backoff grows once every server was tried
                self._delay = min(self._delay * 2, self.retry_max)

    async def _follow(self) -> str:
        """Follow one connection until it ends; return why it ended."""
        async with connect(self.url, additional_headers=self.headers, open_timeout=self.open_timeout,
                           ping_interval=self.ping_seconds, ping_timeout=self.ping_seconds,
                           close_timeout=1) as ws:
            if self.token:
                await ws.send(json.dumps({"type": "auth", "token": self.token}))
            async for raw in ws:
                if not self._up.is_set():
                    self._came_up()
                self._handle(raw)
            return _closed(ws.close_code, ws.close_reason)

    def _came_up(self) -> None:
        self._up.set()
        self.connections += 1
        self._delay = self.retry_min
        self._warned = False
        self.faults.ok()
        log.info("following %s", self.url)

    def _handle(self, raw: str | bytes) -> None:
        try:
            message = load_json(raw)
        except BadJson as exc:
            self._ignore(str(exc))
            return
        if not isinstance(message, dict):
            self._ignore(f"not a JSON object: {excerpt(raw)}")
            return
        try:
            self.on_message(message)
        except Exception:  # one bad message must not end the stream
            log.exception("%s: handling a message failed", self.url)

    def _ignore(self, why: str) -> None:
        # One WARNING per connection: a server sending garbage must not fill the journal.
        level = logging.DEBUG if self._warned else logging.WARNING
        self._warned = True
        log.log(level, "%s: ignored a message (%s)", self.url, why)


def _closed(code: int | None, reason: str | None) -> str:
    """Say how the server ended the stream (its close code and reason)."""
    return f"server closed the stream ({' '.join(str(part) for part in (code, reason) if part)})"
