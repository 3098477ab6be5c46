"""Siemens S7 count source: a counter in a data block (DB), read over ISO-on-TCP and polled."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from andon.config.bases import SourceConfigBase
from andon.extras import SNAP7
from devices.catalog import Driver
from devices.links.s7 import S7Hub
from devices.polled import PolledSource

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


def decode(datatype: S7Datatype, data: bytearray) -> int:
    """Decode an S7 INT, DINT, WORD or DWORD (big-endian) at the start of ``data``."""
    from snap7.util import get_dint, get_dword, get_int, get_word

    getter = {"int": get_int, "dint": get_dint, "word": get_word, "dword": get_dword}[datatype]
    return int(getter(data, 0))


class S7Source(PolledSource[S7Hub]):
    """Poll one counter in an S7 data block and hand each value to the sink."""

    libraries = (SNAP7,)

    config: S7SourceConfig

    def attach(self) -> S7Hub:
        """Return the hub of the source's CPU, shared with every source on it."""
        c = self.config
        return S7Hub.attach(
            self.connections.s7, self.connections.clock, c.host, c.port, c.rack, c.slot,
            retry_min=min(c.poll_seconds, c.reconnect_max_seconds), retry_max=c.reconnect_max_seconds,
        )

    async def read(self, link: S7Hub) -> int:
        """Read the counter's bytes from the DB, decoded (pulse mode: any non-zero value is on)."""
        c = self.config
        return decode(c.datatype, await link.read_db(c.db, c.offset, c.size))

    def describe(self) -> str:
        """Say which PLC and DB address this source reads."""
        c = self.config
        return f"s7 {c.host}:{c.port} DB{c.db}.DBB{c.offset} ({c.datatype})"


DRIVER = Driver("s7", S7SourceConfig, S7Source)
