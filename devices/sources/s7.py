"""Siemens S7 count source: a counter in a data block (DB), read over ISO-on-TCP and polled."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from andon.config.bases import SourceConfigBase
from andon.extras import SNAP7
from devices.base import CountSource, PlcOutage, RisingEdge, SourceAvailability
from devices.catalog import Driver
from devices.connections import Connections

log = logging.getLogger(__name__)

S7Datatype = Literal["int", "dint", "word", "dword"]
# datatype -> (bits, signed, bytes): S7 INT/DINT are signed, WORD/DWORD unsigned, all big-endian.
DATATYPES: dict[str, tuple[int, bool, int]] = {
    "int": (16, True, 2),
    "dint": (32, True, 4),
    "word": (16, False, 2),
    "dword": (32, False, 4),
}


class S7SourceConfig(SourceConfigBase):
    """A counter in a data block of a Siemens S7 PLC (S7-300/400/1200/1500, LOGO!)."""

    reference_notes: ClassVar[str] = r"""
**Addressing.** The counter is a number in a data block, addressed as the PLC's absolute address:
`db` is the block number and `offset` the byte where the value starts. `DB10.DBD4` (a DINT or DWORD
at byte 4 of DB10) is `db: 10, offset: 4, datatype: dint` (or `dword`); `DB10.DBW2` (an INT or WORD)
is `db: 10, offset: 2, datatype: int` (or `word`). The offset column of the data block in TIA Portal
or STEP 7 shows it. S7 values are big-endian; there is no word order to choose.

On an S7-1200 or S7-1500 the data block must have "optimized block access" switched off (so it has
byte offsets) and the CPU must permit PUT/GET communication from remote partners. Rack and slot: S7-300
rack 0 slot 2; S7-1200 and S7-1500 rack 0 slot 1.

```yaml
- {type: s7, id: press, host: 10.0.0.8, rack: 0, slot: 1, db: 10, offset: 4, datatype: dint, mode: cumulative}
```
"""

    type: Literal["s7"] = "s7"
    host: str = Field(..., min_length=1, description="PLC host name or IP address.")
    port: int = Field(102, ge=1, le=65535, description="ISO-on-TCP port.")
    rack: int = Field(0, ge=0, le=7, description="Rack of the CPU.")
    slot: int = Field(1, ge=0, le=31, description="Slot of the CPU (S7-300: 2, S7-1200/1500: 1).")
    db: int = Field(..., ge=1, le=65535, description="Data block number (DB1 is 1).")
    offset: int = Field(
        ..., ge=0, le=65535, description="Byte offset of the counter in the DB: DB10.DBD4 is offset 4.",
        json_schema_extra={"unit": "bytes"},
    )
    datatype: S7Datatype = Field(
        "dint",
        description="int (16-bit signed), dint (32-bit signed), word (16-bit unsigned) or "
        "dword (32-bit unsigned); sets bits and signed unless they are given.",
    )
    poll_seconds: float = Field(1.0, gt=0, description="Time between two reads.")
    reconnect_max_seconds: float = Field(
        30.0,
        gt=0,
        description="Longest wait between reconnect attempts (the wait doubles from poll_seconds).",
    )

    @model_validator(mode="before")
    @classmethod
    def _width_from_datatype(cls, data: Any) -> Any:
        """Fill bits and signed from the datatype; refuse values that contradict it."""
        if not isinstance(data, dict):
            return data
        datatype = data.get("datatype", "dint")
        if datatype not in DATATYPES:
            return data  # the Literal check reports it
        bits, signed, _ = DATATYPES[datatype]
        for key, implied in (("bits", bits), ("signed", signed)):
            if key in data and data[key] != implied:
                raise ValueError(
                    f"datatype {datatype} is {bits}-bit {'signed' if signed else 'unsigned'}: "
                    f"{key}: {data[key]} contradicts it (leave {key} out)"
                )
        return {**data, "bits": bits, "signed": signed}

    @property
    def size(self) -> int:
        """Return how many bytes the counter takes."""
        return DATATYPES[self.datatype][2]


class PlcFault(Exception):
    """A read that gave no value; the message is what the board shows."""


class PlcUnreachable(PlcFault):
    """The PLC does not answer at all (no connection, timeout)."""


class S7Hub:
    """One connection to one S7 CPU, shared by every source reading from it.

    snap7 blocks, so each call runs in a worker thread, one at a time under a lock.
    """

    def __init__(
        self, host: str, port: int, rack: int, slot: int, *, retry_min: float, retry_max: float
    ) -> None:
        self.host = host
        self.port = port
        self.rack = rack
        self.slot = slot
        self.lock = asyncio.Lock()
        self.connections_made = 0
        self.users = 0
        self.outage = PlcOutage(log, self.where, retry_min=retry_min, retry_max=retry_max)
        self._client: Any = None

    @staticmethod
    def key(host: str, port: int, rack: int, slot: int) -> tuple[str, int, int, int]:
        """Return the key of the hub for one CPU in ``connections.s7``."""
        return (host, port, rack, slot)

    @classmethod
    def attach(cls, connections: Connections, config: S7SourceConfig) -> S7Hub:
        """Return the hub for the config's CPU, creating it on first use."""
        hub: S7Hub = connections.s7.attach(
            cls.key(config.host, config.port, config.rack, config.slot),
            lambda: cls(
                config.host,
                config.port,
                config.rack,
                config.slot,
                retry_min=min(config.poll_seconds, config.reconnect_max_seconds),
                retry_max=config.reconnect_max_seconds,
            ),
        )
        hub.users += 1
        return hub

    async def detach(self, connections: Connections) -> None:
        """Drop one user; the last one closes the connection and forgets the hub."""
        self.users -= 1
        if connections.s7.detach(self.key(self.host, self.port, self.rack, self.slot)) is not self:
            return
        client, self._client = self._client, None
        if client is not None:
            await asyncio.to_thread(_disconnect, client)

    @property
    def where(self) -> str:
        """Return host:port of the PLC."""
        return f"{self.host}:{self.port}"

    async def read_db(self, db: int, offset: int, size: int) -> bytearray:
        """Read ``size`` bytes of a DB; raise PlcFault saying why when there is no value."""
        from snap7.error import S7ConnectionError, S7Error, S7TimeoutError

        async with self.lock:
            client = await self._connected()
            try:
                data: bytearray = await asyncio.to_thread(client.db_read, db, offset, size)
            except (S7ConnectionError, S7TimeoutError, OSError) as exc:
                self._lost(client, str(exc) or type(exc).__name__)
                raise PlcUnreachable(f"PLC {self.where} unreachable: {self.outage.why}") from exc
            except S7Error as exc:
                if await asyncio.to_thread(client.get_connected):
                    self.outage.answered()
                else:
                    self._lost(client, str(exc) or type(exc).__name__)
                    raise PlcUnreachable(f"PLC {self.where} unreachable: {self.outage.why}") from exc
                raise PlcFault(
                    f"PLC {self.where} refused to read DB{db}.DBB{offset} ({size} bytes): {exc}"
                ) from exc
            self.outage.answered()
            return data

    async def _connected(self) -> Any:
        if self._client is not None:
            return self._client
        if self.outage.too_soon(asyncio.get_running_loop().time()):
            raise PlcUnreachable(f"PLC {self.where} unreachable: {self.outage.why}")
        import snap7
        from snap7.error import S7Error

        client = snap7.Client()
        try:
            await asyncio.to_thread(client.connect, self.host, self.rack, self.slot, self.port)
        except (S7Error, OSError) as exc:
            self._lost(client, str(exc) or type(exc).__name__)
            raise PlcUnreachable(f"PLC {self.where} unreachable: {self.outage.why}") from exc
        self._client = client
        self.connections_made += 1
        return client

    def _lost(self, client: Any, why: str) -> None:
        self.outage.lost(why, asyncio.get_running_loop().time())
        self._client = None
        _disconnect(client)  # closes a socket, does not wait on the network


def _disconnect(client: Any) -> None:
    try:
        client.disconnect()
    except Exception as exc:  # a half-dead socket may complain while closing; it is gone anyway
        log.debug("closing S7 connection: %s", exc)


def decode(datatype: S7Datatype, data: bytearray) -> int:
    """Decode an S7 INT, DINT, WORD or DWORD (big-endian) at the start of ``data``."""
    from snap7.util import get_dint, get_dword, get_int, get_word

    getter = {"int": get_int, "dint": get_dint, "word": get_word, "dword": get_dword}[datatype]
    return int(getter(data, 0))


class S7Source(CountSource):
    """Poll one counter in an S7 data block and hand each value to the sink."""

    libraries = (SNAP7,)

    config: S7SourceConfig

    def __init__(self, config: S7SourceConfig, sink: Any, connections: Connections) -> None:
        super().__init__(config, sink, connections)
        self.hub: S7Hub | None = None
        self.availability = SourceAvailability(sink, log, self.describe())
        self._flag = RisingEdge()

    async def run(self) -> None:
        """Poll until cancelled; faults mark the source offline once and polling goes on."""
        c = self.config
        self.hub = S7Hub.attach(self.connections, c)
        try:
            while True:
                try:
                    data = await self.hub.read_db(c.db, c.offset, c.size)
                except PlcFault as exc:
                    self._fault(exc)
                else:
                    self._deliver(decode(c.datatype, data))
                await asyncio.sleep(c.poll_seconds)
        finally:
            await asyncio.shield(self.hub.detach(self.connections))

    def _deliver(self, value: int) -> None:
        self.availability.ok()
        now = self.connections.clock.now()
        if self.config.mode == "pulse":
            # A part-done flag: count each change from 0 to non-zero; the first read only learns it.
            if self._flag.rose(value != 0):
                self.deliver(1, ts=now)
            return
        self.deliver(value, ts=now)

    def _fault(self, fault: PlcFault) -> None:
        self._flag.forget()
        # the hub logs lost connections, once per PLC
        self.availability.fault(fault, logged=isinstance(fault, PlcUnreachable))

    def describe(self) -> str:
        """Say which PLC and DB address this source reads."""
        c = self.config
        return f"s7 {c.host}:{c.port} DB{c.db}.DBB{c.offset} ({c.datatype})"


DRIVER = Driver("s7", S7SourceConfig, S7Source)
