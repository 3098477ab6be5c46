"""The gate every HTTP request passes before a route: body size, body time, strict JSON, NUL-free URLs.

A pure ASGI middleware, so it sees the raw bytes: a body over ``max_body_bytes`` is refused with
413 (by its Content-Length before any of it is read, else as soon as the limit is passed); a body
that does not arrive within ``body_timeout`` seconds gets 408; a JSON body that Python would read
but no storage can hold (NaN, Infinity, 1e309, integers past 64 bits, lone surrogates, NUL, nesting
past 32 levels) gets 422 with the reason. The route then reads the same bytes again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from andon.payload import BadJson, load_json

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 256 * 1024
# Body types a client sends by default when it means JSON (curl -d sends a form type): read as JSON when they are.
# Any other type (text/csv for an order import...) goes to its route as it came.
_READ_AS_JSON = {b"", b"application/x-www-form-urlencoded", b"text/plain"}
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class TooLarge(Exception):
    """The body passed the size limit."""


def is_json(headers: list[tuple[bytes, bytes]]) -> bool:
    """Say whether FastAPI would read this body as JSON (no content type, or application/json or +json)."""
    for name, value in headers:
        if name == b"content-type":
            kind = value.split(b";", 1)[0].strip().lower()
            return kind == b"application/json" or (kind.startswith(b"application/") and kind.endswith(b"+json"))
    return True


def _header(headers: list[tuple[bytes, bytes]], wanted: bytes) -> bytes | None:
    for name, value in headers:
        if name == wanted:
            return value
    return None


class RequestGuard:
    """ASGI middleware refusing oversized, slow or unstorable request bodies and NUL in URLs."""

    def __init__(
        self, app: ASGIApp, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, body_timeout: float = 10.0,
        on_bad_body: Callable[[Scope, str, str], None] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        self.on_bad_body = on_bad_body  # told (scope, reason, message) of each body refused as not JSON it takes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check one request, then hand it on with its body replayed."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b""):
            await self._refuse(scope, send, 400, "the URL holds a NUL character (%00)")
            return
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        length = _header(headers, b"content-length")
        if length is not None and length.strip().isdigit() and int(length) > self.max_body_bytes:
            await self._refuse(scope, send, 413, self._too_large())
            return
        try:
            async with asyncio.timeout(self.body_timeout):
                body, disconnect = await self._read(receive)
        except TooLarge:
            await self._refuse(scope, send, 413, self._too_large())
            return
        except TimeoutError:
            await self._refuse(scope, send, 408, f"the body did not arrive within {self.body_timeout:g} s")
            return
        if disconnect is not None:
            return  # the client left before sending its body: nobody to answer
        kind_header = (_header(headers, b"content-type") or b"").split(b";", 1)[0].strip().lower()
        if body and kind_header in _READ_AS_JSON and scope.get("path", "").startswith("/api/"):
            # The API takes JSON only. A body sent with another type (curl -d sends a form type) is read
            # as the JSON it is; one that is not JSON is refused naming the type it came with.
            kind = (_header(headers, b"content-type") or b"no content type").decode("latin-1")[:80]
            try:
                load_json(body)
            except BadJson as exc:
                message = (f"this API takes JSON (Content-Type: application/json); the body came as {kind} and is "
                           f"not JSON ({exc.reason})")
                self._tell(scope, "not_json", message)
                await self._refuse(scope, send, 415, message)
                return
            scope = {**scope, "headers": [(n, v) for n, v in headers if n != b"content-type"]
                     + [(b"content-type", b"application/json")]}
            headers = scope["headers"]
        if body and is_json(headers):
            try:
                load_json(body)
            except BadJson as exc:
                message = f"body refused ({exc.reason}): {exc}"
                self._tell(scope, exc.reason, message)
                await self._refuse(scope, send, 422, message)
                return
        await self.app(scope, _replay(body, receive), send)

    def _tell(self, scope: Scope, reason: str, message: str) -> None:
        if self.on_bad_body is not None:
            try:
                self.on_bad_body(scope, reason, message)
            except Exception:  # the answer must go out whatever the hook does
                log.exception("a bad-body hook failed")

    def _too_large(self) -> str:
        return f"the body is larger than {self.max_body_bytes} bytes (api.max_body_bytes)"

    async def _read(self, receive: Receive) -> tuple[bytes, Message | None]:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"", message
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), None

    async def _refuse(self, scope: Scope, send: Send, status: int, detail: str) -> None:
        log.info("%s %s refused with %d: %s", scope.get("method", "WS"), scope.get("path", ""), status, detail)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": detail[:120]})
            return
        payload = json.dumps({"detail": detail}).encode()
        response_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        if status in (408, 413):
            response_headers.append((b"connection", b"close"))  # the rest of the body is not read
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": payload})


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed

