"""Modbus TCP count source: a counter register or a part-done coil in a PLC, polled."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from andon.config.bases import SourceConfigBase
from andon.extras import PYMODBUS
from devices.base import CountSource, PlcOutage, RisingEdge, SourceAvailability
from devices.catalog import Driver
from devices.connections import Connections

log = logging.getLogger(__name__)

RegisterType = Literal["holding", "input", "coil", "discrete_input"]
BIT_TYPES: frozenset[str] = frozenset({"coil", "discrete_input"})


class ModbusSourceConfig(SourceConfigBase):
    """A counter held in a Modbus TCP device (PLC, counter module, gateway)."""

    reference_notes: ClassVar[str] = r"""
**Addressing.** `register` is the 0-based address sent in the Modbus request, not the 1-based
"Modicon" number that PLC manuals and many HMI tools print (4xxxx for holding registers, 3xxxx for
input registers, 0xxxx for coils, 1xxxx for discrete inputs). Take away the leading digit and one:

| the PLC manual says | `register_type` | `register` |
|---|---|---|
| holding register 40001 (or 400001) | `holding` | `0` |
| holding register 40101 | `holding` | `100` |
| input register 30005 | `input` | `4` |
| coil 00017 | `coil` | `16` |
| discrete input 10001 | `discrete_input` | `0` |

A manual that already lists 0-based addresses ("%MW100", "address 100", "offset 0x64") is used as it is:
`register: 100`.

**Word order.** A 32-bit counter takes two registers, `register` and `register + 1` (64-bit: four).
Inside each register the bytes are big-endian, as Modbus defines. `word_order: big` when the first
register holds the high word, `little` when it holds the low word. Worked example: the counter
70000 (0x00011170) at `register: 100` reads register 100 = 1 and register 101 = 4464 (0x1170) with
`word_order: big`, or register 100 = 4464 and register 101 = 1 with `word_order: little`. A wrong
word order shows as counts that jump by 65536.

```yaml
- {type: modbus, id: plc, host: 10.0.0.5, unit: 1, register: 100, register_type: holding,
   bits: 32, word_order: big, mode: cumulative}        # holding registers 40101-40102
```
"""

    type: Literal["modbus"] = "modbus"
    host: str = Field(..., min_length=1, description="PLC host name or IP address.")
    port: int = Field(502, ge=1, le=65535, description="Modbus TCP port.")
    unit: int = Field(1, ge=0, le=255, description="Modbus unit id (device id, 'slave' id).")
    # Named ``address`` in Python: ``register`` would shadow pydantic's ABC ``register``.
    address: int = Field(
        ...,
        alias="register",
        ge=0,
        le=65535,
        description="0-based address of the first register or coil, as sent on the wire: holding "
        "register 40001 in a PLC manual is register 0 (see the addressing notes).",
    )
    register_type: RegisterType = Field(
        "holding",
        description="holding or input registers hold a counter; a coil or discrete input is 0/1 "
        "(in pulse mode each rising edge is one pulse).",
    )
    bits: Literal[16, 32, 64] = Field(
        32, description="Counter width: 16 bits = one register, 32 = two, 64 = four.",
        json_schema_extra={"unit": "bits"},
    )
    word_order: Literal["big", "little"] = Field(
        "big", description="Multi-register counters: big = first register holds the high word."
    )
    poll_seconds: float = Field(1.0, gt=0, description="Time between two reads.")
    timeout_seconds: float = Field(3.0, gt=0, description="How long to wait for the PLC to answer.")
    reconnect_max_seconds: float = Field(
        30.0,
        gt=0,
        description="Longest wait between reconnect attempts (the wait doubles from poll_seconds).",
    )

    @model_validator(mode="after")
    def _check_layout(self) -> ModbusSourceConfig:
        if self.register_type in BIT_TYPES and self.mode == "cumulative":
            raise ValueError(
                f"a {self.register_type} is 0 or 1, it cannot be a cumulative counter: "
                "use mode pulse (count rising edges) or a holding/input register"
            )
        if self.register_type not in BIT_TYPES and self.address + self.words - 1 > 65535:
            raise ValueError(
                f"a {self.bits}-bit counter at register {self.address} runs past 65535"
            )
        return self

    @property
    def words(self) -> int:
        """Return how many 16-bit registers the counter spans."""
        return self.bits // 16


class PlcFault(Exception):
    """A read that gave no value; the message is what the board shows."""


class PlcUnreachable(PlcFault):
    """The PLC does not answer at all (no connection, timeout)."""


class ModbusHub:
    """One Modbus TCP connection to one PLC, shared by every source reading from it.

    Requests go one at a time under a lock; a lost connection is re-opened with a doubling wait.
    """

    def __init__(
        self, host: str, port: int, *, timeout: float, retry_min: float, retry_max: float
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.lock = asyncio.Lock()
        self.connections_made = 0
        self.users = 0
        self.outage = PlcOutage(log, self.where, retry_min=retry_min, retry_max=retry_max)
        self._client: Any = None

    @staticmethod
    def key(host: str, port: int) -> tuple[str, int]:
        """Return the key of the hub for host:port in ``connections.modbus``."""
        return (host, port)

    @classmethod
    def attach(cls, connections: Connections, config: ModbusSourceConfig) -> ModbusHub:
        """Return the hub for the config's host:port, creating it on first use."""
        hub: ModbusHub = connections.modbus.attach(
            cls.key(config.host, config.port),
            lambda: cls(
                config.host,
                config.port,
                timeout=config.timeout_seconds,
                retry_min=min(config.poll_seconds, config.reconnect_max_seconds),
                retry_max=config.reconnect_max_seconds,
            ),
        )
        hub.users += 1
        return hub

    def detach(self, connections: Connections) -> None:
        """Drop one user; the last one closes the connection and forgets the hub."""
        self.users -= 1
        if connections.modbus.detach(self.key(self.host, self.port)) is self:
            self.close()

    def close(self) -> None:
        """Close the connection (a later read opens it again)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def where(self) -> str:
        """Return host:port of the PLC."""
        return f"{self.host}:{self.port}"

    async def read(
        self, register_type: RegisterType, address: int, count: int, unit: int
    ) -> list[int]:
        """Read ``count`` registers or bits; raise PlcFault saying why when there is no value."""
        from pymodbus.exceptions import ModbusException

        async with self.lock:
            client = await self._connected()
            read = {
                "holding": client.read_holding_registers,
                "input": client.read_input_registers,
                "coil": client.read_coils,
                "discrete_input": client.read_discrete_inputs,
            }[register_type]
            try:
                response = await read(address, count=count, device_id=unit)
            except (TimeoutError, ModbusException, OSError) as exc:
                self._lost(str(exc) or type(exc).__name__)
                raise PlcUnreachable(f"PLC {self.where} unreachable: {self.outage.why}") from exc
            self.outage.answered()
            if response.isError():
                raise PlcFault(
                    f"PLC {self.where} refused to read {register_type} {address} (unit {unit}): "
                    f"Modbus exception {getattr(response, 'exception_code', '?')}"
                )
            if register_type in BIT_TYPES:
                return [int(bool(b)) for b in response.bits[:count]]
            return [int(r) for r in response.registers[:count]]

    async def _connected(self) -> Any:
        if self._client is not None and self._client.connected:
            return self._client
        if self._client is not None:
            self._lost("connection closed by the PLC")
        if self.outage.too_soon(asyncio.get_running_loop().time()):
            raise PlcUnreachable(f"PLC {self.where} unreachable: {self.outage.why}")
        from pymodbus.client import AsyncModbusTcpClient

        # reconnect_delay=0: this hub decides when to retry, so a dead PLC is not hammered.
        client = AsyncModbusTcpClient(
            self.host, port=self.port, timeout=self.timeout, retries=0, reconnect_delay=0
        )
        try:
            ok = await client.connect()
        except (TimeoutError, OSError) as exc:
            ok = False
            why = str(exc) or type(exc).__name__
        else:
            why = "connection refused or timed out"
        if not ok:
            client.close()
            self._lost(why)
            raise PlcUnreachable(f"PLC {self.where} unreachable: {why}")
        self._client = client
        self.connections_made += 1
        return client

    def _lost(self, why: str) -> None:
        self.outage.lost(why, asyncio.get_running_loop().time())
        self.close()


def decode_words(words: list[int], *, word_order: str, signed: bool) -> int:
    """Join 16-bit registers into one integer (big word order: first register most significant)."""
    ordered = words if word_order == "big" else list(reversed(words))
    value = 0
    for word in ordered:
        value = (value << 16) | (word & 0xFFFF)
    bits = 16 * len(words)
    if signed and value >= 1 << (bits - 1):
        value -= 1 << bits
    return value


class ModbusSource(CountSource):
    """Poll one counter (or one coil) in a Modbus TCP device and hand each value to the sink."""

    libraries = (PYMODBUS,)

    config: ModbusSourceConfig

    def __init__(self, config: ModbusSourceConfig, sink: Any, connections: Connections) -> None:
        super().__init__(config, sink, connections)
        self.hub: ModbusHub | None = None
        self.availability = SourceAvailability(sink, log, self.describe())
        self._coil = RisingEdge()

    async def run(self) -> None:
        """Poll until cancelled; faults mark the source offline once and polling goes on."""
        c = self.config
        self.hub = ModbusHub.attach(self.connections, c)
        count = 1 if c.register_type in BIT_TYPES else c.words
        try:
            while True:
                try:
                    values = await self.hub.read(c.register_type, c.address, count, c.unit)
                except PlcFault as exc:
                    self._fault(exc)
                else:
                    self._deliver(values)
                await asyncio.sleep(c.poll_seconds)
        finally:
            self.hub.detach(self.connections)

    def _deliver(self, values: list[int]) -> None:
        c = self.config
        self.availability.ok()
        now = self.connections.clock.now()
        if c.register_type in BIT_TYPES:
            bit = values[0]
            if c.mode == "pulse":
                # The first poll only learns the state: a coil already on is not a new part.
                if self._coil.rose(bit == 1):
                    self.deliver(1, ts=now)
            else:
                self.deliver(bit, ts=now)
            return
        self.deliver(decode_words(values, word_order=c.word_order, signed=c.signed), ts=now)

    def _fault(self, fault: PlcFault) -> None:
        self._coil.forget()
        # the hub logs lost connections, once per PLC
        self.availability.fault(fault, logged=isinstance(fault, PlcUnreachable))

    def describe(self) -> str:
        """Say which PLC and register this source reads."""
        c = self.config
        return f"modbus {c.host}:{c.port} unit {c.unit} {c.register_type} {c.address}"


DRIVER = Driver("modbus", ModbusSourceConfig, ModbusSource)
