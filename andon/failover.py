"""Clients of an active/standby pair: several server URLs, each request sent to the one that is active.

``servers("http://a:8000,http://b:8000")`` reads the list a command line or a config gives. The transports
wrap httpx's: a request goes to the server that answered last; when it cannot be connected to, or is the
standby (a 503 saying ``"role": "standby"``), the same request goes to the next one, each server tried once.
Only a request that never reached a server, or that a standby refused, is sent again, so nothing is done
twice. With one server they change nothing.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import urlsplit

import httpx

log = logging.getLogger(__name__)

_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout)


def servers(text: str | list[str]) -> list[str]:
    """Return the server URLs of a comma-separated list (or a list), without trailing slashes; raise ValueError
    for one that is not an http:// or https:// URL naming a host."""
    items = text.split(",") if isinstance(text, str) else text
    found = [item.strip().rstrip("/") for item in items if item.strip()]
    if not found:
        raise ValueError("no server URL given (for example http://10.0.0.2:8000)")
    for url in found:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"server URL {url!r} must start with http:// or https:// and name a host "
                             "(for example http://10.0.0.2:8000)")
    return found


def is_standby(response: httpx.Response) -> bool:
    """Say whether a (read) response is a standby server's refusal."""
    if response.status_code != 503:
        return False
    try:
        body = json.loads(response.content)
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("role") == "standby"


class _Servers:
    def __init__(self, urls: list[str]) -> None:
        self.bases = [httpx.URL(u) for u in servers(urls)]
        self.current = 0

    def order(self) -> list[int]:
        n, at = len(self.bases), self.current
        return [(at + i) % n for i in range(n)]

    def moved(self, request: httpx.Request, to: int) -> httpx.Request:
        """Return ``request`` sent to server ``to`` (its path under the first server's taken over)."""
        if to == 0:
            return request
        first, target = self.bases[0], self.bases[to]
        path = request.url.raw_path
        prefix = first.raw_path.rstrip(b"/")
        if prefix and path.startswith(prefix):
            path = path[len(prefix):]
        url = request.url.copy_with(scheme=target.scheme, host=target.host, port=target.port,
                                    raw_path=target.raw_path.rstrip(b"/") + path)
        headers = request.headers.copy()
        headers["Host"] = url.netloc.decode("ascii")
        return httpx.Request(request.method, url, headers=headers, content=request.content,
                             extensions=request.extensions)

    def chose(self, index: int) -> None:
        if index != self.current:
            log.warning("following the active server %s (was %s)", self.bases[index], self.bases[self.current])
            self.current = index


class FailoverTransport(httpx.BaseTransport):
    """A blocking transport following the active one of several servers (the client's base URL is the first)."""

    def __init__(self, urls: list[str], inner: httpx.BaseTransport | None = None) -> None:
        self.servers = _Servers(urls)
        self.inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:  # noqa: D102 - httpx's hook
        order = self.servers.order()
        for n, index in enumerate(order):
            last = n == len(order) - 1
            try:
                response = self.inner.handle_request(self.servers.moved(request, index))
            except _UNSENT:
                if last:
                    raise
                continue
            if not last and response.status_code == 503:
                response.read()
                if is_standby(response):
                    response.close()
                    continue
            self.servers.chose(index)
            return response
        raise AssertionError("unreachable")  # the last server's answer or error is always returned

    def close(self) -> None:  # noqa: D102 - httpx's hook
        self.inner.close()


class AsyncFailoverTransport(httpx.AsyncBaseTransport):
    """The asyncio form of FailoverTransport."""

    def __init__(self, urls: list[str], inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.servers = _Servers(urls)
        self.inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:  # noqa: D102 - httpx's hook
        order = self.servers.order()
        for n, index in enumerate(order):
            last = n == len(order) - 1
            try:
                response = await self.inner.handle_async_request(self.servers.moved(request, index))
            except _UNSENT:
                if last:
                    raise
                continue
            if not last and response.status_code == 503:
                await response.aread()
                if is_standby(response):
                    await response.aclose()
                    continue
            self.servers.chose(index)
            return response
        raise AssertionError("unreachable")

    async def aclose(self) -> None:  # noqa: D102 - httpx's hook
        await self.inner.aclose()


def client(urls: list[str], **options: object) -> httpx.Client:
    """Return a blocking client for ``urls`` (its base URL the first, following the active one)."""
    return httpx.Client(base_url=urls[0], transport=FailoverTransport(urls), **options)  # type: ignore[arg-type]


def async_client(urls: list[str], **options: object) -> httpx.AsyncClient:
    """Return an asyncio client for ``urls`` (its base URL the first, following the active one)."""
    return httpx.AsyncClient(base_url=urls[0], transport=AsyncFailoverTransport(urls), **options)  # type: ignore[arg-type]
