"""One Modbus TCP connection per (host, port), shared by every count source and stack light on it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from andon.clock import Clock
from devices.links.plc import ConnectionLost, PlcFault, PlcLink
from devices.links.pool import LinkPool

log = logging.getLogger(__name__)

RegisterType = Literal["holding", "input", "coil", "discrete_input"]
BIT_TYPES: frozenset[str] = frozenset({"coil", "discrete_input"})


class ModbusHub(PlcLink):
    """One Modbus TCP connection to one PLC or I/O module; the unit (device id) goes with each request."""

    def __init__(
        self, host: str, port: int, clock: Clock, *, timeout: float, retry_min: float, retry_max: float
    ) -> None:
        super().__init__(host, port, clock, retry_min=retry_min, retry_max=retry_max)
        self.timeout = timeout

    @property
    def key(self) -> tuple[str, int]:
        """Return (host, port), this hub's key in its pool."""
        return (self.host, self.port)

    @classmethod
    def attach(
        cls, pool: LinkPool[tuple[str, int], ModbusHub], clock: Clock, host: str, port: int, *, timeout: float,
        retry_min: float, retry_max: float,
    ) -> ModbusHub:
        """Return the hub for host:port from ``pool`` (the first user's settings make it), one user more."""
        hub = pool.attach(
            (host, port), lambda: cls(host, port, clock, timeout=timeout, retry_min=retry_min, retry_max=retry_max)
        )
        hub.joined(pool)
        return hub

    async def read(self, register_type: RegisterType, address: int, count: int, unit: int) -> list[int]:
        """Read ``count`` registers or bits; raise PlcFault saying why when there is no value."""

        async def ask(client: Any) -> list[int]:
            read = {
                "holding": client.read_holding_registers,
                "input": client.read_input_registers,
                "coil": client.read_coils,
                "discrete_input": client.read_discrete_inputs,
            }[register_type]
            response = await _answer(read(address, count=count, device_id=unit))
            if response.isError():
                raise PlcFault(
                    f"PLC {self.where} refused to read {register_type} {address} (unit {unit}): "
                    f"Modbus exception {getattr(response, 'exception_code', '?')}"
                )
            if register_type in BIT_TYPES:
                return [int(bool(b)) for b in response.bits[:count]]
            return [int(r) for r in response.registers[:count]]

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
            response = await _answer(call(client))
            if response.isError():
                raise PlcFault(f"{what} refused: {response}")

        await self.request(ask)

    async def _open(self) -> Any:
        from pymodbus.client import AsyncModbusTcpClient

        # reconnect_delay=0: the link decides when to retry, so a dead PLC is not hammered.
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


async def _answer(request: Awaitable[Any]) -> Any:
    """Await a pymodbus request; no answer at all becomes ConnectionLost."""
    from pymodbus.exceptions import ModbusException

    try:
        return await request
    except (TimeoutError, ModbusException, OSError) as exc:
        raise ConnectionLost(str(exc) or type(exc).__name__) from exc
