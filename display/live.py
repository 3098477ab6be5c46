"""Listen on the API's WebSocket and hand each message to the client, reconnecting with backoff.

Pushes only make changes show sooner (an andon raise appears at once); the HTTP poller keeps
running underneath and is what proves the data fresh, so a silent socket never freezes the board.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger(__name__)


def websocket_url(server: str) -> str:
    """Return the WebSocket URL (/ws) for an http(s) server URL."""
    base = server.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[len("https://") :] + "/ws"
    if base.startswith("http://"):
        return "ws://" + base[len("http://") :] + "/ws"
    return base + "/ws"


class WebSocketListener:
    """A thread that stays connected to ``url`` and passes each JSON object to ``on_message``."""

    def __init__(
        self,
        url: str,
        on_message: Callable[[Mapping[str, Any]], object],
        *,
        first_backoff: float = 1.0,
        max_backoff: float = 30.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.url = url
        self.headers = dict(headers or {})  # e.g. Authorization: the token never goes in the URL
        self.on_message = on_message
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self._stop = threading.Event()
        self._ws: Any = None
        self._faulted = False
        self.connected = threading.Event()
        self._thread = threading.Thread(target=self._run, name="display-websocket", daemon=True)

    def start(self) -> None:
        """Start listening."""
        self._thread.start()

    def stop(self) -> None:
        """Close the socket and wait for the thread to end."""
        self._stop.set()
        ws = self._ws
        if ws is not None:
            ws.close()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        from websockets.exceptions import WebSocketException
        from websockets.sync.client import connect

        backoff = self.first_backoff
        while not self._stop.is_set():
            try:
                with connect(self.url, open_timeout=5, close_timeout=1, additional_headers=self.headers) as ws:
                    self._ws = ws
                    self.connected.set()
                    backoff = self.first_backoff
                    if self._faulted:
                        log.info("WebSocket %s connected again", self.url)
                        self._faulted = False
                    for raw in ws:
                        self._handle(raw)
            except (OSError, TimeoutError, WebSocketException) as exc:
                if self._stop.is_set():
                    break
                if self._faulted:
                    log.debug("WebSocket %s: %r; retry in %.0f s", self.url, exc, backoff)
                else:
                    log.error("WebSocket %s: %r; polling continues, retrying", self.url, exc)
                    self._faulted = True
            finally:
                self._ws = None
                self.connected.clear()
            self._stop.wait(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    def _handle(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            log.warning("ignored a WebSocket message that is not JSON: %.80r", raw)
            return
        if not isinstance(message, dict):
            log.warning("ignored a WebSocket message that is not an object: %.80r", raw)
            return
        try:
            self.on_message(message)
        except Exception:  # one bad message must not end the listener
            log.exception("error handling a WebSocket message")
