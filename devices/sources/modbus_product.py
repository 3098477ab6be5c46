"""The product a line makes, from a PLC over Modbus TCP: a recipe (or product) number in a register, mapped to
product ids. A new number is a product change at the time it was read."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from devices.catalog import Driver
from devices.connections import Connections
from devices.product_source import RefusedProduct, hand_over, product_of, recipes_field
from devices.sources.modbus import ModbusSource, ModbusSourceConfig


class ModbusProductSourceConfig(ModbusSourceConfig):
    """A recipe or product number in a Modbus TCP device: its value selects the product the line makes."""

    reference_notes: ClassVar[str] = """
Addressing and word order are those of the `modbus` count source. The counting keys (`mode`, `kind`,
`parts_per_cycle`, `max_jump`, `debounce_seconds`) do not apply. Each poll reads the number; a number
other than the last one read changes the product (from the time of the poll), a repeat does nothing.

```
- {type: modbus_product, id: recipe, host: 10.0.0.5, register: 200, bits: 16,
   recipes: {1: widget-a, 2: widget-b}}                  # holding register 40201
```
"""

    type: Literal["modbus_product"] = "modbus_product"  # type: ignore[assignment]
    role: Literal["count", "run_signal", "fault_code", "product"] = Field(
        "product", description="product: this source selects the product; it counts no parts.")
    selects_product: ClassVar[bool] = True
    recipes: dict[int, str] = recipes_field()


class ModbusProductSource(ModbusSource):
    """Poll a recipe number and hand each new one to the sink as a product change."""

    config: ModbusProductSourceConfig

    def __init__(self, config: ModbusProductSourceConfig, sink: Any, connections: Connections) -> None:
        super().__init__(config, sink, connections)
        self._last: int | None = None

    def _deliver(self, value: Any) -> None:
        """Take one poll's recipe number (the Modbus source's read decodes it) and hand over a new product."""
        c = self.config
        self.availability.ok()
        self.polls += 1
        number = int(value)
        if number == self._last:
            return
        try:
            product = product_of(number, c.recipes)
        except RefusedProduct as exc:
            self._last = number  # said once per new number, not every poll
            self.reject(exc.reason, str(exc))
            return
        if hand_over(self, product, ts=self.connections.clock.now()):
            self._last = number

    def _fault(self, fault: Any) -> None:
        self._last = None  # after a fault the number is read afresh (the engine ignores a repeat)
        super()._fault(fault)

    def describe(self) -> str:
        """Say which PLC and register the recipe number is read from."""
        c = self.config
        return f"modbus recipe {c.host}:{c.port} unit {c.unit} {c.register_type} {c.address}"


DRIVER = Driver("modbus_product", ModbusProductSourceConfig, ModbusProductSource)
