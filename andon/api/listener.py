"""The HTTP listener's limits: header and idle deadlines on every connection, and the open-file limit.

uvicorn closes a kept-alive connection that sends no new request (``timeout_keep_alive``) but not a
connection that was opened and never sent anything, nor one that sends its headers a byte at a
time: each holds a file descriptor for ever, and a few thousand of them stop the server accepting
the board's requests. The protocol made by ``http_protocol`` closes a connection that is idle
(no request in progress, nothing received) for ``idle_timeout`` seconds, and one whose request
headers have not all arrived ``header_timeout`` seconds after its first byte (answered 408).
"""

from __future__ import annotations

import asyncio
import logging
import re
import resource
from typing import Any

log = logging.getLogger(__name__)

OPEN_FILES_WANTED = 65_536
_TIMEOUT_ANSWER = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


# uvicorn logs each WebSocket's path with its query string; a client that still puts a token there
# (refused, but logged before the refusal) must not leave it in the journal.
_SECRET_IN_QUERY = re.compile(r"((?:\?|&)(?:token|access_token|password)=)[^&\s\"']*", re.IGNORECASE)


class RedactSecrets(logging.Filter):
    """Replace secrets in URL query strings of log records with ``<redacted>``."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message and arguments; always keep the record."""
        if isinstance(record.msg, str):
            record.msg = _SECRET_IN_QUERY.sub(r"\1<redacted>", record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_SECRET_IN_QUERY.sub(r"\1<redacted>", a) if isinstance(a, str) else a
                                for a in record.args)
        return True


def redact_secrets_in_logs(names: tuple[str, ...] = ("uvicorn.error", "uvicorn.access", "uvicorn")) -> None:
    """Put the RedactSecrets filter on uvicorn's loggers (once)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())


def raise_open_file_limit(wanted: int = OPEN_FILES_WANTED) -> int:
    """Raise the soft RLIMIT_NOFILE towards ``wanted`` (never past the hard limit); return the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-file limit from %d to %d: %s", soft, target, exc)
            return soft
        log.info("open-file limit raised from %d to %d (each connection holds one)", soft, target)
        return target
    return soft


class _Deadlines:
    """Mixed into a uvicorn HTTP protocol: close idle connections and ones whose headers never finish."""

    header_timeout = 10.0
    # Set by the uvicorn protocol this is mixed into.
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    cycle: Any
    timeout_keep_alive: float

    def connection_made(self, transport: asyncio.Transport) -> None:
        """Start the connection's idle deadline: an opened connection must send a request."""
        super().connection_made(transport)  # type: ignore[misc]
        self._heading = False
        self._deadline: asyncio.TimerHandle | None = self.loop.call_later(
            self.timeout_keep_alive, self._expire, False
        )

    def data_received(self, data: bytes) -> None:
        """Start the header deadline on a request's first byte; end it once its headers are in."""
        before = self.cycle
        if not self._heading and (before is None or before.response_complete):
            self._cancel_deadline()
            self._heading = True
            self._deadline = self.loop.call_later(self.header_timeout, self._expire, True)
        super().data_received(data)  # type: ignore[misc]
        if self.cycle is not before:  # the headers are complete: a request is under way
            self._heading = False
            self._cancel_deadline()

    def handle_websocket_upgrade(self, *args: Any) -> None:
        """Hand over to the WebSocket protocol (it has its own handshake and ping timeouts)."""
        self._heading = False
        self._cancel_deadline()
        super().handle_websocket_upgrade(*args)  # type: ignore[misc]

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the deadline with the connection."""
        self._cancel_deadline()
        super().connection_lost(exc)  # type: ignore[misc]

    def _cancel_deadline(self) -> None:
        deadline = getattr(self, "_deadline", None)
        if deadline is not None:
            deadline.cancel()
            self._deadline = None

    def _expire(self, heading: bool) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if heading:
            log.debug("closing a connection whose request headers did not arrive within %.0f s", self.header_timeout)
            self.transport.write(_TIMEOUT_ANSWER)
        elif self.cycle is not None and not self.cycle.response_complete:
            return  # a request is in progress after all
        self.transport.close()


def http_protocol(header_timeout: float) -> type[asyncio.Protocol]:
    """Return uvicorn's HTTP protocol (httptools when installed, else h11) with the connection deadlines."""
    base: type[Any]
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        base = HttpToolsProtocol
    except ImportError:  # httptools is optional; h11 always comes with uvicorn
        from uvicorn.protocols.http.h11_impl import H11Protocol

        base = H11Protocol
    protocol: type[asyncio.Protocol] = type(
        f"Deadline{base.__name__}", (_Deadlines, base), {"header_timeout": header_timeout}
    )
    return protocol
