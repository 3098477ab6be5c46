"""Counts polled from a tag in an Allen-Bradley controller over EtherNet/IP (CIP), with pylogix."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from andon.config.bases import SourceConfigBase
from andon.extras import PYLOGIX
from devices.catalog import Driver
from devices.links.ethernetip import LogixLink
from devices.polled import PolledSource


class EthernetIpSourceConfig(SourceConfigBase):
    """A counter tag (or a part-made BOOL) in a ControlLogix, CompactLogix or Micro800 PLC."""

    reference_notes: ClassVar[str] = r"""
**Addressing.** `tag` is the tag name as Studio 5000 or Connected Components Workbench shows it:

| tag | what it is |
|---|---|
| `PartCount` | a controller-scoped tag |
| `Program:MainProgram.PartCount` | a program-scoped tag: `Program:`, the program's name, a dot, the tag |
| `Line1.Count` | a member of a structure (UDT) tag |
| `Counts[3]` | an element of an array tag |
| `CTU_Parts.ACC` | the accumulated value of a counter (CTU) instruction's tag |

A counter is a DINT (or INT, SINT; `signed: true`); a part-made flag is a BOOL (`mode: pulse`).
`slot` is the controller's slot in a ControlLogix chassis (0 for CompactLogix); set `micro800: true`
for a Micro800, which has no backplane to route through and only global (controller) variables.

```yaml
- {type: ethernetip, id: logix, host: 10.0.0.9, slot: 0, tag: "Program:MainProgram.PartCount", mode: cumulative}
```
"""

    type: Literal["ethernetip"] = "ethernetip"
    mode: Literal["cumulative", "increment", "pulse"] = Field(
        "cumulative",
        description="cumulative: the tag is a counter (e.g. a DINT); pulse: the tag is a BOOL "
        "that turns true once per part (pulses shorter than poll_seconds are missed).",
    )
    signed: bool = Field(True, description="Whether the counter is signed (DINT and INT are).")
    host: str = Field(..., min_length=1, description="PLC host name or IP address.")
    port: int = Field(44818, ge=1, le=65535, description="EtherNet/IP TCP port.")
    tag: str = Field(..., min_length=1, description="Tag to read, e.g. Counter or Program:Main.Parts.")
    slot: int = Field(0, ge=0, le=255, description="Chassis slot of the controller (ControlLogix).")
    micro800: bool = Field(False, description="The PLC is a Micro800 (no backplane routing).")
    poll_seconds: float = Field(1.0, gt=0, description="Time between two reads.")
    timeout_seconds: float = Field(3.0, gt=0, description="How long to wait for the PLC to answer.")
    reconnect_max_seconds: float = Field(
        30.0,
        gt=0,
        description="Longest wait between reconnect attempts (the wait doubles from poll_seconds).",
    )

    @model_validator(mode="after")
    def _check_mode(self) -> EthernetIpSourceConfig:
        if self.mode == "increment":
            raise ValueError(
                "an ethernetip tag is polled, so the same value is read again and again: use mode "
                "cumulative (a counter tag) or pulse (a BOOL true once per part)"
            )
        return self


class EthernetIpSource(PolledSource[LogixLink]):
    """Poll one tag in a Logix controller and hand each value to the sink."""

    libraries = (PYLOGIX,)

    config: EthernetIpSourceConfig

    def attach(self) -> LogixLink:
        """Return the link to the source's controller, shared with every source on it."""
        c = self.config
        return LogixLink.attach(
            self.connections.ethernetip, self.connections.clock, c.host, c.port, c.slot, c.micro800,
            timeout=c.timeout_seconds,
            retry_min=min(c.poll_seconds, c.reconnect_max_seconds), retry_max=c.reconnect_max_seconds,
        )

    async def read(self, link: LogixLink) -> Any:
        """Read the tag's value."""
        return await link.read(self.config.tag)

    def describe(self) -> str:
        """Say which controller and tag this source reads."""
        c = self.config
        where = "micro800" if c.micro800 else f"slot {c.slot}"
        return f"ethernetip {c.host}:{c.port} {where} tag {c.tag}"


DRIVER = Driver("ethernetip", EthernetIpSourceConfig, EthernetIpSource)
