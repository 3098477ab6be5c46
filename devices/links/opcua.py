"""One OPC UA session per server endpoint (url, security, user, application URI), shared by every source on it.

Servers cap their sessions (node-opcua's default is 10), so sources on one server share one session and
one subscription per publishing interval, each source's node a monitored item of it. The link connects
when a source first asks and after a loss, one attempt at a time, spaced by a doubling wait; the outage
is logged once per server. ``nsu=<uri>;`` node ids are resolved through the server's namespace array,
read once per session. A refusal caused by the client certificate or the security policy says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from andon.clock import Clock
from devices.links.plc import PlcOutage
from devices.links.pool import LinkPool

log = logging.getLogger("devices.links")

_NSU = re.compile(r"^nsu=(?P<uri>[^;]+);(?P<rest>[isgb]=.+)$")
# Status codes whose cause is the client's certificate or the chosen security policy, not the server.
_CERTIFICATE_CODES = ("BadCertificate", "BadSecurityChecksFailed", "BadSecurityPolicyRejected",
                      "BadSecurityModeRejected", "BadNoValidCertificates", "BadIdentityToken")


@dataclass(frozen=True)
class OpcuaEndpoint:
    """What makes two sources able to share a session: the endpoint and how the client presents itself."""

    url: str
    security: str | None = None
    username: str | None = None
    password: str | None = None
    application_uri: str | None = None
    timeout: float = 4.0


class OpcuaFault(Exception):
    """A value could not be had; the message is what the board shows."""


class OpcuaUnreachable(OpcuaFault):
    """The server does not answer (no connection, lost session, timeout)."""


def refusal_text(endpoint: OpcuaEndpoint, exc: Exception) -> str:
    """Say why a connection was refused, naming the certificate or security policy when that is the cause."""
    name = type(exc).__name__
    text = str(exc) or name
    if endpoint.security is not None and any(code in f"{name} {text}" for code in _CERTIFICATE_CODES):
        policy, mode, certificate = endpoint.security.split(",")[:3]
        uri = endpoint.application_uri or "asyncua's default application URI"
        return (f"OPC UA server {endpoint.url} refused the client certificate {certificate} "
                f"(security policy {policy}, mode {mode}, application URI {uri}): {text}")
    return f"OPC UA server {endpoint.url} unreachable: {text}"


class OpcuaLink:
    """One asyncua session to one server endpoint, shared by the sources on it."""

    def __init__(self, endpoint: OpcuaEndpoint, clock: Clock, *, retry_min: float, retry_max: float) -> None:
        self.endpoint = endpoint
        self.clock = clock
        self.sessions_made = 0
        self.outage = PlcOutage(log, endpoint.url, retry_min=retry_min, retry_max=retry_max)
        self._lock = asyncio.Lock()
        self._client: Any = None
        self._lost: asyncio.Future[Exception] | None = None
        self._namespaces: list[str] = []
        self._subscriptions: dict[int, Any] = {}  # publishing interval (ms) -> asyncua subscription
        self._readers: dict[tuple[int, Any], list[Callable[[Any], None]]] = {}  # (interval, node id) -> sources
        self._subscribing = asyncio.Lock()
        self._pool: LinkPool[OpcuaEndpoint, OpcuaLink] | None = None

    @classmethod
    def attach(
        cls, pool: LinkPool[OpcuaEndpoint, OpcuaLink], clock: Clock, endpoint: OpcuaEndpoint, *,
        retry_min: float, retry_max: float,
    ) -> OpcuaLink:
        """Return the link to this endpoint from ``pool`` (made by its first user), one user more."""
        link = pool.attach(endpoint, lambda: cls(endpoint, clock, retry_min=retry_min, retry_max=retry_max))
        link._pool = pool
        return link

    async def detach(self) -> None:
        """Count one user less; the last one closes the session."""
        if self._pool is None or self._pool.detach(self.endpoint) is self:
            await self.close()

    async def session(self) -> Any:
        """Return the connected asyncua client, connecting when that is due; raise OpcuaFault saying why not."""
        async with self._lock:
            if self._client is not None and self._lost is not None and not self._lost.done():
                return self._client
            await self._drop()
            if self.outage.too_soon(self.clock.now()):
                raise OpcuaUnreachable(self._why())
            try:
                await self._connect()
            except Exception as exc:  # asyncua raises many kinds; each is this server's fault for now
                await self._drop()
                self.outage.lost(refusal_text(self.endpoint, exc).split(": ", 1)[-1], self.clock.now())
                raise OpcuaUnreachable(refusal_text(self.endpoint, exc)) from exc
            self.outage.answered()
            return self._client

    def _why(self) -> str:
        return f"OPC UA server {self.endpoint.url} unreachable: {self.outage.why}"

    async def _connect(self) -> None:
        from asyncua import Client

        e = self.endpoint
        client = Client(e.url, timeout=e.timeout, watchdog_intervall=max(e.timeout, 1.0))
        if e.application_uri is not None:
            client.application_uri = e.application_uri
        if e.username is not None:
            client.set_user(e.username)
        if e.password is not None:
            client.set_password(e.password)
        lost: asyncio.Future[Exception] = asyncio.get_running_loop().create_future()

        async def on_lost(exc: Exception) -> None:
            if not lost.done():
                lost.set_result(exc)

        client.connection_lost_callback = on_lost
        self._client, self._lost = client, lost
        if e.security is not None:
            await client.set_security_string(e.security)
        await client.connect()
        self.sessions_made += 1
        array = await client.get_namespace_array()
        self._namespaces = [str(uri) for uri in array]

    def resolve(self, node: str) -> str:
        """Return a node id with ``nsu=<uri>;`` replaced by the server's index of that namespace."""
        match = _NSU.match(node)
        if match is None:
            return node
        uri = match.group("uri")
        if uri not in self._namespaces:
            raise OpcuaFault(f"OPC UA server {self.endpoint.url} has no namespace {uri!r} "
                             f"(its namespaces: {', '.join(self._namespaces)})")
        return f"ns={self._namespaces.index(uri)};{match.group('rest')}"

    async def subscribe(self, node: Any, interval_seconds: float, reader: Callable[[Any], None]) -> None:
        """Monitor ``node`` on the session's subscription for this interval; ``reader`` gets each DataValue."""
        interval = max(1, round(interval_seconds * 1000))
        async with self._subscribing:
            readers = self._readers.get((interval, node.nodeid))
            if readers is not None:  # another source monitors this node already: share its item
                readers.append(reader)
                return
            subscription = self._subscriptions.get(interval)
            if subscription is None:
                subscription = await self._client.create_subscription(interval, _Notifications(self, interval))
                self._subscriptions[interval] = subscription
            self._readers[(interval, node.nodeid)] = [reader]
            await subscription.subscribe_data_change(node)

    def unsubscribe(self, reader: Callable[[Any], None]) -> None:
        """Stop handing values to ``reader`` (its source stopped)."""
        for readers in self._readers.values():
            if reader in readers:
                readers.remove(reader)

    async def until_lost(self) -> Exception:
        """Wait until the session is lost; return why."""
        lost = self._lost
        if lost is None:
            return ConnectionError("no session")
        return await asyncio.shield(lost)

    def notify(self, interval: int, node: Any, value: Any) -> None:
        """Hand a pushed DataValue to every source that monitors the node."""
        for reader in list(self._readers.get((interval, node.nodeid), ())):
            reader(value)

    async def _drop(self) -> None:
        client, self._client = self._client, None
        self._subscriptions.clear()
        self._readers.clear()
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), self.endpoint.timeout)

    async def close(self) -> None:
        """Close the session (a later ``session()`` opens it again)."""
        async with self._lock:
            await self._drop()


class _Notifications:
    """The handler of one asyncua subscription: passes each data change to the link."""

    def __init__(self, link: OpcuaLink, interval: int) -> None:
        self.link = link
        self.interval = interval

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        """Take a value the server pushed (asyncua subscription callback)."""
        self.link.notify(self.interval, node, data.monitored_item.Value)

    def status_change_notification(self, status: Any) -> None:
        """Note a subscription status change (loss is handled by the connection watchdog)."""
        log.debug("OPC UA %s: subscription status %s", self.link.endpoint.url, status)
