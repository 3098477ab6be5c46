"""How an andon button's press reaches the andon service: in process (``andon run``) or over HTTP (an edge Pi)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from andon import failover
from andon.andons import AndonService


class NoOpenCall(LookupError):
    """Acknowledge or resolve found no open call for the station and category."""


def _open_call_id(calls: Sequence[Mapping[str, Any]], line: str, station: str, category: str) -> int:
    station = station.strip()
    for call in calls:
        if call.get("station") == station and call.get("category") == category:
            return int(call["id"])
    raise NoOpenCall(f"no open andon call on {line} station {station!r} for {category!r}")


class ServiceActions:
    """AndonActions over the in-process andon service (``andon run``). Thread-safe."""

    def __init__(self, service: AndonService) -> None:
        self.service = service

    def raise_call(self, line: str, station: str, category: str, source: str) -> dict[str, Any]:
        """Raise a call (or get the open one for this station and category)."""
        call, _created = self.service.raise_call(line, station, category, source)
        return call

    def acknowledge(self, line: str, station: str, category: str, source: str) -> dict[str, Any]:
        """Acknowledge the open call of this station and category."""
        call_id = _open_call_id(self.service.open_brief(line), line, station, category)
        return self.service.acknowledge(call_id, source)

    def resolve(self, line: str, station: str, category: str, source: str) -> dict[str, Any]:
        """Resolve the open call of this station and category."""
        call_id = _open_call_id(self.service.open_brief(line), line, station, category)
        return self.service.resolve(call_id, source)


class RemoteAndonError(RuntimeError):
    """The server could not be reached or refused an andon action."""


class RemoteAndonActions:
    """AndonActions over the server's HTTP API (edge Pi). Thread-safe; blocks its caller's thread.

    Raising is retried after a transport error or a 5xx (the server's raise is idempotent);
    acknowledge and resolve are retried only when the request never reached the server.
    The button's id goes into the call's note ("raised by button:st3-quality"), since the server
    records the token's name as who raised, acknowledged and resolved.
    """

    def __init__(
        self, server: str, token: str | None = None, timeout: float = 5.0,
        retry_delays: tuple[float, ...] = (0.5, 1.0, 2.0), pause: Callable[[float], None] = time.sleep,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.server = server.rstrip("/")
        self.retry_delays = retry_delays
        self.pause = pause  # how a retry waits (a test records the waits instead of sleeping them)
        self._client = failover.client(failover.servers(self.server), headers=headers, timeout=timeout)
        self._lock = threading.Lock()

    def raise_call(self, line: str, station: str, category: str, source: str) -> dict[str, Any]:
        """Raise a call on the server (or get the open one)."""
        body = {"line": line, "station": station, "category": category, "note": f"raised by {source}"}
        call: dict[str, Any] = self._request("POST", "/api/andons", body, idempotent=True)
        return call

    def acknowledge(self, line: str, station: str, category: str, source: str) -> dict[str, Any]:
        """Acknowledge the open call of this station and category on the server."""
        return self._step(line, station, category, "acknowledge", f"acknowledged by {source}")

    def resolve(self, line: str, station: str, category: str, source: str) -> dict[str, Any]:
        """Resolve the open call of this station and category on the server."""
        return self._step(line, station, category, "resolve", f"resolved by {source}")

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def _step(self, line: str, station: str, category: str, action: str, note: str) -> dict[str, Any]:
        call_id = self._open_call(line, station, category)
        call: dict[str, Any] = self._request("POST", f"/api/andons/{call_id}/{action}", {"note": note})
        return call

    def _open_call(self, line: str, station: str, category: str) -> int:
        calls = self._request("GET", f"/api/andons?line={line}&state=open", None, idempotent=True)
        return _open_call_id(calls, line, station, category)

    def _request(self, method: str, url: str, body: Any, idempotent: bool = False) -> Any:
        delays = (*self.retry_delays, None)
        for delay in delays:
            try:
                with self._lock:
                    reply = self._client.request(method, url, json=body)
            except httpx.TransportError as exc:
                unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if delay is None or not (idempotent or unsent):
                    raise RemoteAndonError(f"server {self.server} unreachable: {type(exc).__name__} {exc}") from exc
                self.pause(delay)
                continue
            if reply.status_code >= 500 and idempotent and delay is not None:
                self.pause(delay)
                continue
            if reply.status_code >= 400:
                try:
                    detail = reply.json().get("detail", reply.text)
                except ValueError:
                    detail = reply.text
                raise RemoteAndonError(f"server answered {reply.status_code} to {method} {url}: {detail}")
            return reply.json()
        raise AssertionError("unreachable")  # pragma: no cover - the last delay is None
