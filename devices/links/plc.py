"""What every PLC link shares: the fault words, one connection per PLC with one request at a time, the
outage logged once per PLC, and reconnects spaced by a doubling wait on the injected clock.

A protocol's link (Modbus, S7, EtherNet/IP) says how to open, check, use and drop its connection; this
module decides when to connect and what a failure means to the drivers on it.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from andon.clock import Clock
from devices.links.pool import LinkPool

log = logging.getLogger("devices.links")

T = TypeVar("T")


class PlcFault(Exception):
    """A request that gave no value or was not carried out; the message is what the board shows."""


class PlcUnreachable(PlcFault):
    """The PLC does not answer at all (no connection, timeout)."""


class ConnectionLost(Exception):
    """Raised by a protocol's code when the connection failed or dropped; the message says why."""


class PlcOutage:
    """A shared PLC connection's outage: logged once per PLC, reconnects spaced by a doubling wait."""

    def __init__(self, logger: logging.Logger, where: str, *, retry_min: float, retry_max: float) -> None:
        self.logger = logger
        self.where = where
        self.retry_min = retry_min
        self.retry_max = retry_max
        self.why: str | None = None  # None: the PLC answers
        self.retry_wait = retry_min
        self.retry_at = 0.0

    def answered(self) -> None:
        """End the outage on an answer (a PLC that accepts connections but stays silent is still down)."""
        if self.why is not None:
            self.logger.info("PLC %s answers again (was: %s)", self.where, self.why)
            self.why = None
            self.retry_wait = self.retry_min

    def lost(self, why: str, now: float) -> None:
        """Note a failed connection or request (ERROR at the start, DEBUG after); wait before retrying."""
        if self.why is None:
            self.logger.error("PLC %s unreachable: %s", self.where, why)
        else:
            self.logger.debug("PLC %s still unreachable: %s", self.where, why)
            self.retry_wait = min(self.retry_wait * 2, self.retry_max)
        self.why = why
        self.retry_at = now + self.retry_wait

    def too_soon(self, now: float) -> bool:
        """Say whether ``now`` comes before the next reconnect attempt is due."""
        return now < self.retry_at


class PlcLink(abc.ABC):
    """One connection to one PLC, shared by every driver on it; requests go one at a time under a lock.

    A request that gets no answer starts (or prolongs) the outage and drops the connection; the next
    connection is tried only once the outage's wait has passed on the clock, so a dead PLC is not hammered.
    """

    def __init__(self, host: str, port: int, clock: Clock, *, retry_min: float, retry_max: float) -> None:
        self.host = host
        self.port = port
        self.clock = clock
        self.lock = asyncio.Lock()
        self.connections_made = 0
        self.users = 0
        self.outage = PlcOutage(log, self.where, retry_min=retry_min, retry_max=retry_max)
        self._session: Any = None
        self._pool: LinkPool[Any, Any] | None = None  # the pool it came from (set when attached)

    @property
    def where(self) -> str:
        """Return host:port of the PLC."""
        return f"{self.host}:{self.port}"

    @property
    @abc.abstractmethod
    def key(self) -> Hashable:
        """Return this link's key in its pool."""

    def joined(self, pool: LinkPool[Any, Any]) -> None:
        """Note the pool this link is shared through and count one more user of it."""
        self._pool = pool
        self.users += 1

    @abc.abstractmethod
    async def _open(self) -> Any:
        """Open a connection and return it; raise ConnectionLost saying why it failed."""

    def _alive(self, session: Any) -> bool:
        """Say whether an open connection is still up (a protocol that can tell overrides this)."""
        return True

    @abc.abstractmethod
    async def _close(self, session: Any) -> None:
        """Close a connection, good or broken."""

    def unreachable(self) -> PlcUnreachable:
        """Return the fault every driver on this link reports while the PLC does not answer."""
        return PlcUnreachable(f"PLC {self.where} unreachable: {self.outage.why}")

    async def request(self, ask: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``ask(connection)`` alone on the PLC's connection, opening it first when that is due.

        ``ask`` raises ConnectionLost when no answer came and PlcFault when the PLC refused; either way
        the caller gets a PlcFault (PlcUnreachable for the first), never a protocol library's error.
        """
        async with self.lock:
            session = await self._connected()
            try:
                result = await ask(session)
            except ConnectionLost as exc:
                await self._lose(str(exc) or type(exc).__name__)
                raise self.unreachable() from exc
            except PlcFault:
                self.outage.answered()  # a refusal is an answer: the PLC is there
                raise
            self.outage.answered()
            return result

    async def detach(self) -> None:
        """Drop one user; the last one closes the connection and takes the link out of its pool."""
        self.users -= 1
        if self._pool is None or self._pool.detach(self.key) is self:
            await self.close()

    async def close(self) -> None:
        """Close the connection (a later request opens it again)."""
        session, self._session = self._session, None
        if session is not None:
            await self._close(session)

    async def _connected(self) -> Any:
        if self._session is not None:
            if self._alive(self._session):
                return self._session
            await self._lose("connection closed by the PLC")
        if self.outage.too_soon(self.clock.now()):
            raise self.unreachable()
        try:
            session = await self._open()
        except ConnectionLost as exc:
            self.outage.lost(str(exc) or type(exc).__name__, self.clock.now())
            raise self.unreachable() from exc
        self._session = session
        self.connections_made += 1
        return session

    async def _lose(self, why: str) -> None:
        self.outage.lost(why, self.clock.now())
        await self.close()
