"""The polled count source: read one value over a shared PLC link, deliver it or report the fault, wait.

Modbus, S7 and EtherNet/IP sources are this loop with their own read; the wait is the injected
clock's, so a test steps time instead of sleeping.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from typing import Any, Generic, TypeVar

from devices.base import CountSource, ReadingSink, RisingEdge, SourceAvailability
from devices.connections import Connections
from devices.links.plc import PlcFault, PlcLink, PlcUnreachable

log = logging.getLogger("devices.sources")

LinkT = TypeVar("LinkT", bound=PlcLink)


class PolledSource(CountSource, Generic[LinkT]):
    """Read a counter (or a part-done flag) every ``poll_seconds`` until cancelled; faults never stop it.

    A fault marks the source offline once (a lost PLC is logged by its link, once per PLC); the next
    good read marks it online again. In pulse mode on a flag each rise from off to on is one part, and
    the first read (and the first after a fault) only learns the flag.
    """

    def __init__(self, config: Any, sink: ReadingSink, connections: Connections) -> None:
        super().__init__(config, sink, connections)
        self.link: LinkT | None = None
        self.polls = 0  # good reads so far
        self.availability = SourceAvailability(sink, log, self.describe())
        self._flag = RisingEdge()

    @abc.abstractmethod
    def attach(self) -> LinkT:
        """Return the shared link to this source's PLC, counting this source as one more user."""

    @abc.abstractmethod
    async def read(self, link: LinkT) -> Any:
        """Read the value once; raise PlcFault saying why there is none."""

    def counts_edges(self) -> bool:
        """Say whether each value is a part-done flag whose rises are counted (pulse mode)."""
        return bool(self.config.mode == "pulse")

    async def run(self) -> None:
        """Poll until cancelled; faults mark the source offline once and polling goes on."""
        link = self.link = self.attach()
        try:
            while True:
                try:
                    value = await self.read(link)
                except PlcFault as exc:
                    self._fault(exc)
                else:
                    self._deliver(value)
                await self.connections.clock.sleep(self.config.poll_seconds)
        finally:
            self.link = None
            await asyncio.shield(link.detach())

    def _deliver(self, value: Any) -> None:
        self.polls += 1
        self.availability.ok()
        now = self.connections.clock.now()
        if self.counts_edges():
            if self._flag.rose(bool(value)):
                self.deliver(1, ts=now)
            return
        self.deliver(value, ts=now)

    def _fault(self, fault: PlcFault) -> None:
        self._flag.forget()
        self.availability.fault(fault, logged=isinstance(fault, PlcUnreachable))
