"""Modbus TCP count source: a counter register or a part-done coil in a PLC, polled."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from andon.config.bases import SourceConfigBase
from andon.extras import PYMODBUS
from devices.catalog import Driver
from devices.links.modbus import BIT_TYPES, ModbusHub, RegisterType
from devices.polled import PolledSource


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


class ModbusSource(PolledSource[ModbusHub]):
    """Poll one counter (or one coil) in a Modbus TCP device and hand each value to the sink."""

    libraries = (PYMODBUS,)

    config: ModbusSourceConfig

    def attach(self) -> ModbusHub:
        """Return the hub of the PLC's host:port, shared with every source and light on it."""
        c = self.config
        return ModbusHub.attach(
            self.connections.modbus, self.connections.clock, c.host, c.port, timeout=c.timeout_seconds,
            retry_min=min(c.poll_seconds, c.reconnect_max_seconds), retry_max=c.reconnect_max_seconds, unit=c.unit,
        )

    async def read(self, link: ModbusHub) -> int:
        """Read the coil (0 or 1) or the counter's registers, decoded."""
        c = self.config
        if c.register_type in BIT_TYPES:
            return (await link.read(c.register_type, c.address, 1, c.unit))[0]
        words = await link.read(c.register_type, c.address, c.words, c.unit)
        return decode_words(words, word_order=c.word_order, signed=c.signed)

    def counts_edges(self) -> bool:
        """Pulse mode counts the rises of a coil or discrete input."""
        return self.config.mode == "pulse" and self.config.register_type in BIT_TYPES

    def describe(self) -> str:
        """Say which PLC and register this source reads."""
        c = self.config
        return f"modbus {c.host}:{c.port} unit {c.unit} {c.register_type} {c.address}"


DRIVER = Driver("modbus", ModbusSourceConfig, ModbusSource)
