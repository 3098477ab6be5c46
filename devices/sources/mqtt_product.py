"""The product a line makes, from MQTT: a product id (or recipe number) published on a topic, as bare text or a
field of a JSON object, optionally with a work order, its quantity and the time of the change."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ClassVar, Literal

from pydantic import Field

from andon.payload import RejectedReading, excerpt, whole_number
from devices.catalog import Driver
from devices.product_source import RefusedProduct, hand_over, product_of, recipes_field
from devices.sources.mqtt import MqttSource, MqttSourceConfig
from devices.sources.mqtt_payload import event_id_of, event_time, json_field, lookup, payload_text

log = logging.getLogger(__name__)


class MqttProductSourceConfig(MqttSourceConfig):
    """A topic whose messages say which product the line makes (an MES, a line PLC, a scanner)."""

    reference_notes: ClassVar[str] = """
The broker keys are those of the `mqtt` count source; the counting keys (`mode`, `kind`, `parts_per_cycle`,
`bits`, `max_jump`, `debounce_seconds`, `id_field`) do not apply. A retained message is the product being made
now. A message naming the product (and work order) already running changes nothing.

```
- {type: mqtt_product, id: mes, topic: plant/line1/product, field: product, work_order_field: order,
   quantity_field: qty, time_field: ts}
# payload: {"product": "widget-b", "order": "WO-1001", "qty": 500, "ts": "2026-12-01T10:00:00+00:00"}
```
"""

    type: Literal["mqtt_product"] = "mqtt_product"  # type: ignore[assignment]
    role: Literal["count", "run_signal", "fault_code", "product"] = Field(
        "product", description="product: this source selects the product; it counts no parts.")
    selects_product: ClassVar[bool] = True
    field: str | None = Field(
        None, description="JSON field holding the product id or recipe number (a.b reaches into objects); "
        "absent: the whole payload is.",
    )
    work_order_field: str | None = Field(None, description="JSON field holding the work order id (optional).")
    quantity_field: str | None = Field(
        None, description="JSON field holding the work order's quantity: an order not loaded yet is created with it."
    )
    recipes: dict[int, str] = recipes_field()


class MqttProductSource(MqttSource):
    """Subscribe to a topic and hand each product it names to the sink, acknowledging once stored."""

    config: MqttProductSourceConfig

    def handle_message(self, message: Any, stored: Callable[[], None]) -> None:
        """Read one message: a product change (stored, then acknowledged) or a reject (acknowledged)."""
        try:
            value, ts = self._parse(message.payload)
        except (RejectedReading, RefusedProduct) as exc:
            self.reject(exc.reason, f"message on {message.topic}: {exc}")
            stored()
            return
        except Exception as exc:  # a payload no rule foresaw still ends: refused and acknowledged
            self.reject("unreadable", f"message on {message.topic}: {type(exc).__name__}")
            stored()
            return
        hand_over(self, value, ts=ts, on_stored=stored)

    def _parse(self, payload: bytes) -> tuple[dict[str, Any], float | None]:
        c = self.config
        text = payload_text(payload)
        if c.field is None:
            return {"product": product_of(text.strip(), c.recipes)}, None
        document, raw = json_field(text, c.field)
        value: dict[str, Any] = {"product": product_of(raw, c.recipes)}
        if c.work_order_field is not None:
            found, raw_order = lookup(document, c.work_order_field)
            if found and raw_order is not None:
                order = event_id_of(raw_order, c.work_order_field)
                if order is None or len(order) > 64:
                    raise RejectedReading("bad_work_order", f"{c.work_order_field} is {excerpt(raw_order)}")
                value["work_order"] = order
        if c.quantity_field is not None:
            found, raw_quantity = lookup(document, c.quantity_field)
            if found and raw_quantity is not None:
                quantity = whole_number(raw_quantity, c.quantity_field, booleans=False)
                if quantity <= 0:  # an order of no parts: refused whole, not taken without its quantity
                    raise RejectedReading("bad_quantity", f"{c.quantity_field} is {quantity}: an order needs 1 or more")
                value["quantity"] = quantity
        return value, event_time(document, c.time_field, None)

    def describe(self) -> str:
        """Say which broker and topic the product is read from."""
        settings = self.broker_settings()
        return f"MQTT product {settings.host}:{settings.port} {self.config.topic}"


DRIVER = Driver("mqtt_product", MqttProductSourceConfig, MqttProductSource)
