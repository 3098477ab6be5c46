"""One EtherNet/IP (CIP) session per Allen-Bradley controller, shared by every count source reading from it.

pylogix blocks and is not thread-safe: each call runs in a worker thread, one at a time.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from andon.clock import Clock
from devices.links.plc import ConnectionLost, PlcFault, PlcLink
from devices.links.pool import LinkPool

log = logging.getLogger(__name__)

# pylogix statuses meaning no answer came back; any other status is the controller refusing.
CONNECTION_STATUSES = ("Connection failure", "Connection lost")

LogixKey = tuple[str, int, int, bool]


class LogixLink(PlcLink):
    """One session to one Logix or Micro800 controller (host, port, slot, Micro800 or not)."""

    def __init__(
        self, host: str, port: int, slot: int, micro800: bool, clock: Clock, *,
        timeout: float, retry_min: float, retry_max: float,
    ) -> None:
        super().__init__(host, port, clock, retry_min=retry_min, retry_max=retry_max)
        self.slot = slot
        self.micro800 = micro800
        self.timeout = timeout
        self._calls = threading.Lock()  # a worker thread outliving a cancelled request still holds it

    @property
    def key(self) -> LogixKey:
        """Return (host, port, slot, micro800), this link's key in ``connections.ethernetip``."""
        return (self.host, self.port, self.slot, self.micro800)

    @classmethod
    def attach(
        cls, pool: LinkPool[LogixKey, LogixLink], clock: Clock, host: str, port: int, slot: int, micro800: bool, *,
        timeout: float, retry_min: float, retry_max: float,
    ) -> LogixLink:
        """Return the link to one controller from ``pool`` (made by its first user), one user more."""
        link = pool.attach(
            (host, port, slot, micro800),
            lambda: cls(host, port, slot, micro800, clock, timeout=timeout, retry_min=retry_min, retry_max=retry_max),
        )
        link.joined(pool)
        return link

    async def read(self, tag: str) -> Any:
        """Read one tag; raise PlcFault saying why when no value comes back."""

        async def ask(plc: Any) -> Any:
            response = await asyncio.to_thread(self._call, plc.Read, tag)
            status = str(response.Status)
            if status == "Success":
                return response.Value
            from pylogix.lgx_response import cip_error_codes

            if status in CONNECTION_STATUSES or status not in cip_error_codes.values():
                raise ConnectionLost(status)  # not a CIP status from the controller: a socket error or timeout
            raise PlcFault(f"PLC {self.where} refused to read tag {tag!r}: {status}")

        return await self.request(ask)

    def _call(self, method: Any, *args: Any) -> Any:
        with self._calls:
            try:
                return method(*args)
            except OSError as exc:  # pylogix reports most faults in Status, but not all
                raise ConnectionLost(str(exc) or type(exc).__name__) from exc

    async def _open(self) -> Any:
        from pylogix import PLC  # lazily: pylogix is an optional extra

        # pylogix connects on the first request; a failure there is a lost connection.
        return PLC(self.host, slot=self.slot, timeout=self.timeout, Micro800=self.micro800, port=self.port)

    async def _close(self, session: Any) -> None:
        try:
            await asyncio.to_thread(self._call, session.Close)
        except ConnectionLost:
            log.debug("PLC %s: closing a broken session failed", self.where, exc_info=True)
