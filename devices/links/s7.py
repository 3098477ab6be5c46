"""One ISO-on-TCP connection per Siemens S7 CPU, shared by every count source reading from it.

snap7 blocks, so each call runs in a worker thread, one at a time under the link's lock.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from andon.clock import Clock
from devices.links.plc import ConnectionLost, PlcFault, PlcLink
from devices.links.pool import LinkPool

log = logging.getLogger(__name__)


class S7Hub(PlcLink):
    """One connection to one S7 CPU (host, port, rack, slot)."""

    def __init__(
        self, host: str, port: int, rack: int, slot: int, clock: Clock, *, retry_min: float, retry_max: float
    ) -> None:
        super().__init__(host, port, clock, retry_min=retry_min, retry_max=retry_max)
        self.rack = rack
        self.slot = slot

    @property
    def key(self) -> tuple[str, int, int, int]:
        """Return (host, port, rack, slot), this hub's key in ``connections.s7``."""
        return (self.host, self.port, self.rack, self.slot)

    @classmethod
    def attach(
        cls, pool: LinkPool[tuple[str, int, int, int], S7Hub], clock: Clock, host: str, port: int, rack: int,
        slot: int, *, retry_min: float, retry_max: float,
    ) -> S7Hub:
        """Return the hub for one CPU from ``pool`` (made by its first user), one user more."""
        hub = pool.attach(
            (host, port, rack, slot),
            lambda: cls(host, port, rack, slot, clock, retry_min=retry_min, retry_max=retry_max),
        )
        hub.joined(pool)
        return hub

    async def read_db(self, db: int, offset: int, size: int) -> bytearray:
        """Read ``size`` bytes of a DB; raise PlcFault saying why when there is no value."""
        from snap7.error import S7ConnectionError, S7Error, S7TimeoutError

        async def ask(client: Any) -> bytearray:
            try:
                data: bytearray = await asyncio.to_thread(client.db_read, db, offset, size)
            except (S7ConnectionError, S7TimeoutError, OSError) as exc:
                raise ConnectionLost(str(exc) or type(exc).__name__) from exc
            except S7Error as exc:
                if not await asyncio.to_thread(client.get_connected):
                    raise ConnectionLost(str(exc) or type(exc).__name__) from exc
                raise PlcFault(f"PLC {self.where} refused to read DB{db}.DBB{offset} ({size} bytes): {exc}") from exc
            return data

        return await self.request(ask)

    async def _open(self) -> Any:
        import snap7
        from snap7.error import S7Error

        client = snap7.Client()
        try:
            await asyncio.to_thread(client.connect, self.host, self.rack, self.slot, self.port)
        except (S7Error, OSError) as exc:
            _disconnect(client)  # closes a socket, does not wait on the network
            raise ConnectionLost(str(exc) or type(exc).__name__) from exc
        return client

    async def _close(self, session: Any) -> None:
        await asyncio.to_thread(_disconnect, session)


def _disconnect(client: Any) -> None:
    try:
        client.disconnect()
    except Exception as exc:  # a half-dead socket may complain while closing; it is gone anyway
        log.debug("closing S7 connection: %s", exc)
