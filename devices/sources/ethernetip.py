"""Counts polled from a tag in an Allen-Bradley controller over EtherNet/IP (CIP), with pylogix."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from andon.config.bases import SourceConfigBase
from andon.extras import PYLOGIX
from devices.base import CountSource, ReadingSink, RisingEdge, SourceAvailability
from devices.catalog import Driver
from devices.connections import Connections

log = logging.getLogger(__name__)

# pylogix statuses meaning no answer came back; any other status is the controller refusing.
CONNECTION_STATUSES = ("Connection failure", "Connection lost")


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
        30.0, gt=0, description="Longest wait between reads while the PLC does not answer."
    )

    @model_validator(mode="after")
    def _check_mode(self) -> EthernetIpSourceConfig:
        if self.mode == "increment":
            raise ValueError(
                "an ethernetip tag is polled, so the same value is read again and again: use mode "
                "cumulative (a counter tag) or pulse (a BOOL true once per part)"
            )
        return self


class PlcFault(Exception):
    """A read that gave no value; the message is what an engineer sees on the board."""


class PlcUnreachable(PlcFault):
    """The PLC did not answer at all."""


class PlcLink:
    """One EtherNet/IP session to one controller, shared by every source reading from it."""

    def __init__(self, config: EthernetIpSourceConfig) -> None:
        self.host = config.host
        self.port = config.port
        self.slot = config.slot
        self.micro800 = config.micro800
        self.timeout = config.timeout_seconds
        self.users = 0
        self._lock = threading.Lock()  # pylogix is not thread-safe; one request at a time
        self._plc: Any = None

    @staticmethod
    def key(config: EthernetIpSourceConfig) -> tuple[str, int, int, bool]:
        """Return the key of the link to this controller in ``connections.ethernetip``."""
        return (config.host, config.port, config.slot, config.micro800)

    @classmethod
    def attach(cls, connections: Connections, config: EthernetIpSourceConfig) -> PlcLink:
        """Return the shared link to the controller, creating it for the first user."""
        link: PlcLink = connections.ethernetip.attach(cls.key(config), lambda: cls(config))
        link.users += 1
        return link

    def detach(self, connections: Connections, config: EthernetIpSourceConfig) -> None:
        """Give the link back; the last user closes it."""
        self.users -= 1
        if connections.ethernetip.detach(self.key(config)) is self:
            self.close()

    @property
    def where(self) -> str:
        """Say which controller this link talks to."""
        return f"{self.host}:{self.port}"

    def read(self, tag: str) -> Any:
        """Read one tag, blocking; raise PlcFault when no value comes back."""
        with self._lock:
            if self._plc is None:
                from pylogix import PLC  # lazily: pylogix is an optional extra

                self._plc = PLC(
                    self.host,
                    slot=self.slot,
                    timeout=self.timeout,
                    Micro800=self.micro800,
                    port=self.port,
                )
            try:
                response = self._plc.Read(tag)
            except OSError as exc:  # pylogix reports most faults in Status, but not all
                self._drop()
                raise PlcUnreachable(f"PLC {self.where} unreachable: {exc}") from exc
        status = str(response.Status)
        if status == "Success":
            return response.Value
        from pylogix.lgx_response import cip_error_codes

        if status in CONNECTION_STATUSES or status not in cip_error_codes.values():
            # not a CIP status from the controller: a socket error or timeout on our side
            with self._lock:
                self._drop()
            raise PlcUnreachable(f"PLC {self.where} unreachable: {status}")
        raise PlcFault(f"PLC {self.where} refused to read tag {tag!r}: {status}")

    def _drop(self) -> None:
        plc, self._plc = self._plc, None
        if plc is not None:
            try:
                plc.Close()
            except OSError:
                log.debug("PLC %s: closing a broken session failed", self.where, exc_info=True)

    def close(self) -> None:
        """Close the session to the controller."""
        with self._lock:
            self._drop()


class EthernetIpSource(CountSource):
    """Poll one tag in a Logix controller and hand each value to the sink."""

    libraries = (PYLOGIX,)

    config: EthernetIpSourceConfig

    def __init__(self, config: EthernetIpSourceConfig, sink: ReadingSink, connections: Connections) -> None:
        super().__init__(config, sink, connections)
        self.link: PlcLink | None = None
        self.polls = 0
        self.availability = SourceAvailability(sink, log, self.describe())
        self._flag = RisingEdge()

    async def run(self) -> None:
        """Poll until cancelled; a fault marks the source offline once and polling backs off."""
        c = self.config
        link = self.link = PlcLink.attach(self.connections, c)
        wait = c.poll_seconds
        try:
            while True:
                try:
                    value = await asyncio.to_thread(link.read, c.tag)
                except PlcFault as exc:
                    self._fault(exc)
                    wait = min(max(wait, c.poll_seconds) * 2, max(c.reconnect_max_seconds, c.poll_seconds))
                else:
                    self._deliver(value)
                    wait = c.poll_seconds
                await asyncio.sleep(wait)
        finally:
            self.link = None
            await asyncio.to_thread(link.detach, self.connections, c)

    def _deliver(self, value: Any) -> None:
        self.polls += 1
        self.availability.ok()
        now = self.connections.clock.now()
        if self.config.mode == "pulse":
            # The first read only learns the state: a BOOL already true is not a new part.
            if self._flag.rose(bool(value)):
                self.deliver(1, ts=now)
            return
        self.deliver(value, ts=now)

    def _fault(self, fault: PlcFault) -> None:
        self._flag.forget()
        self.availability.fault(fault)

    def describe(self) -> str:
        """Say which controller and tag this source reads."""
        c = self.config
        where = "micro800" if c.micro800 else f"slot {c.slot}"
        return f"ethernetip {c.host}:{c.port} {where} tag {c.tag}"


DRIVER = Driver("ethernetip", EthernetIpSourceConfig, EthernetIpSource)
