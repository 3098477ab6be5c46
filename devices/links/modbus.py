"""One Modbus TCP connection per (host, port), shared by every count source and stack light on it.

A unit that does not answer while the connection stays up (a gateway whose serial slave is dead) is
that unit's fault alone: its sources go offline, it is asked again only after a doubling wait, and the
other units keep counting on the same connection. Only when every unit in use went silent in a row is
the connection itself taken for lost (a PLC that accepts connections but answers nothing).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from andon.clock import Clock
from devices.links.plc import ConnectionLost, PlcFault, PlcLink
from devices.links.pool import LinkPool

log = logging.getLogger(__name__)

RegisterType = Literal["holding", "input", "coil", "discrete_input"]
BIT_TYPES: frozenset[str] = frozenset({"coil", "discrete_input"})


class NoAnswer(ConnectionLost):
    """A request timed out while the connection stayed up: the unit may be silent, not the PLC."""


@dataclass
class UnitSilence:
    """A unit that did not answer: why, and when it is asked again (the wait doubles while it stays silent)."""

    why: str
    wait: float
    retry_at: float


class ModbusHub(PlcLink):
    """One Modbus TCP connection to one PLC or I/O module; the unit (device id) goes with each request."""

    def __init__(
        self, host: str, port: int, clock: Clock, *, timeout: float, retry_min: float, retry_max: float
    ) -> None:
        super().__init__(host, port, clock, retry_min=retry_min, retry_max=retry_max)
        self.timeout = timeout
        self.units: Counter[int] = Counter()  # units the sources on this hub read, by number of sources
        self.silent: dict[int, UnitSilence] = {}
        self._silent_in_a_row = 0  # requests without an answer since the last answer from any unit

    @property
    def key(self) -> tuple[str, int]:
        """Return (host, port), this hub's key in its pool."""
        return (self.host, self.port)

    @classmethod
    def attach(
        cls, pool: LinkPool[tuple[str, int], ModbusHub], clock: Clock, host: str, port: int, *, timeout: float,
        retry_min: float, retry_max: float, unit: int | None = None,
    ) -> ModbusHub:
        """Return the hub for host:port from ``pool`` (the first user's settings make it), one user more."""
        hub = pool.attach(
            (host, port), lambda: cls(host, port, clock, timeout=timeout, retry_min=retry_min, retry_max=retry_max)
        )
        hub.joined(pool)
        if unit is not None:
            hub.units[unit] += 1
        return hub

    def _unit_quiet(self, unit: int) -> None:
        """Refuse at once a request to a unit that is silent and not yet due to be asked again."""
        silence = self.silent.get(unit)
        if silence is not None and self.clock.now() < silence.retry_at:
            raise PlcFault(silence.why)

    def _heard(self, unit: int) -> None:
        self._silent_in_a_row = 0
        if self.silent.pop(unit, None) is not None:
            log.info("PLC %s unit %s answers again", self.where, unit)

    def _no_answer(self, unit: int, exc: NoAnswer) -> PlcFault:
        """Take a timed-out request as the unit's silence, unless every unit in use went silent in a row."""
        self._silent_in_a_row += 1
        if self._silent_in_a_row >= max(1, len(+self.units)):
            raise exc  # nothing answers: the connection is lost (logged and retried by the link)
        now = self.clock.now()
        before = self.silent.get(unit)
        wait = self.outage.retry_min if before is None else min(before.wait * 2, self.outage.retry_max)
        why = f"PLC {self.where} unit {unit} does not answer ({self.timeout:g} s); the other units do"
        if before is None:
            log.error("%s", why)
        self.silent[unit] = UnitSilence(why, wait, now + wait)
        return PlcFault(why)

    async def read(self, register_type: RegisterType, address: int, count: int, unit: int) -> list[int]:
        """Read ``count`` registers or bits; raise PlcFault saying why when there is no value."""

        async def ask(client: Any) -> list[int]:
            read = {
                "holding": client.read_holding_registers,
                "input": client.read_input_registers,
                "coil": client.read_coils,
                "discrete_input": client.read_discrete_inputs,
            }[register_type]
            try:
                response = await _answer(read(address, count=count, device_id=unit), client)
            except NoAnswer as exc:
                raise self._no_answer(unit, exc) from exc
            self._heard(unit)
            if response.isError():
                raise PlcFault(
                    f"PLC {self.where} refused to read {register_type} {address} (unit {unit}): "
                    f"Modbus exception {getattr(response, 'exception_code', '?')}"
                )
            if register_type in BIT_TYPES:
                return [int(bool(b)) for b in response.bits[:count]]
            return [int(r) for r in response.registers[:count]]

        self._unit_quiet(unit)
        return await self.request(ask)

    async def write_coil(self, address: int, on: bool, unit: int) -> None:
        """Switch one coil; raise PlcFault when the module refused or did not answer."""
        await self._write(f"write coil {address}", lambda client: client.write_coil(address, on, device_id=unit))

    async def write_coils(self, address: int, levels: list[bool], unit: int) -> None:
        """Switch contiguous coils in one Write Multiple Coils request."""
        await self._write(
            f"write coils {address}-{address + len(levels) - 1}",
            lambda client: client.write_coils(address, levels, device_id=unit),
        )

    async def write_register(self, address: int, value: int, unit: int) -> None:
        """Write one holding register; raise PlcFault when the module refused or did not answer."""
        await self._write(
            f"write register {address}", lambda client: client.write_register(address, value, device_id=unit)
        )

    async def _write(self, what: str, call: Callable[[Any], Awaitable[Any]]) -> None:
        async def ask(client: Any) -> None:
            response = await _answer(call(client), client)
            if response.isError():
                raise PlcFault(f"{what} refused: {response}")

        await self.request(ask)

    async def _open(self) -> Any:
        from pymodbus.client import AsyncModbusTcpClient

        # reconnect_delay=0: the link decides when to retry, so a dead PLC is not hammered.
        self._silent_in_a_row = 0  # a new connection: every unit gets its chance again
        client = AsyncModbusTcpClient(self.host, port=self.port, timeout=self.timeout, retries=0, reconnect_delay=0)
        try:
            ok = await client.connect()
        except (TimeoutError, OSError) as exc:
            client.close()
            raise ConnectionLost(str(exc) or type(exc).__name__) from exc
        if not ok:
            client.close()
            raise ConnectionLost("connection refused or timed out")
        return client

    def _alive(self, session: Any) -> bool:
        return bool(session.connected)

    async def _close(self, session: Any) -> None:
        session.close()


async def _answer(request: Awaitable[Any], client: Any) -> Any:
    """Await a pymodbus request; a timeout on a live connection is NoAnswer, any other failure ConnectionLost."""
    from pymodbus.exceptions import ModbusException, ModbusIOException

    try:
        return await request
    except (TimeoutError, ModbusException, OSError) as exc:
        why = str(exc) or type(exc).__name__
        if isinstance(exc, TimeoutError | ModbusIOException) and client.connected:
            raise NoAnswer(why) from exc
        raise ConnectionLost(why) from exc
