"""Products over a real Mosquitto broker: a message selects the product (and starts a work order), bad ones are
refused and acknowledged, and product and work-order changes are published on <prefix>/<line>/product|work_order."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient as ApiClient

from andon.api.app import create_app
from andon.clock import ManualClock
from andon.config.loader import parse_config
from andon.services import services_for
from collector.outputs import attach_mqtt_outputs
from devices.connections import Connections
from devices.sources.mqtt_product import MqttProductSource
from tests.conftest import Mosquitto, wait_until
from tests.core.engine_fixtures import utc
from tests.core.plant_fixtures import make_plant
from tests.mqtt.conftest import SourceRunner, TestClient

CONFIG = """
plant: {{name: P, timezone: UTC}}
database: sqlite:///{db}
mqtt: {{host: 127.0.0.1, port: {port}, topic_prefix: andon, client_id: andon-products-test}}
shifts:
  - {{id: early, start: "06:00", end: "14:00"}}
products:
  - {{id: A, takt_seconds: 60}}
  - {{id: B, takt_seconds: 45}}
lines:
  - id: l1
    products: [A, B]
    changeover: {{target_minutes: 15}}
    sources:
      - {{type: mqtt_product, id: mes, topic: plant/l1/product, field: product, work_order_field: order,
         quantity_field: qty, time_field: ts}}
      - {{type: mqtt_product, id: scanner, topic: plant/l1/recipe, recipes: {{7: A, 8: B}}}}
"""


def test_messages_select_the_product_and_changes_are_published(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_client: Callable[..., TestClient], runner: SourceRunner
) -> None:
    clock = ManualClock(utc("2026-11-25 08:00"))
    config = parse_config(CONFIG.format(db=tmp_path / "andon.db", port=mosquitto.port))
    services = services_for(make_plant(config, clock))
    publisher = attach_mqtt_outputs(services)
    assert publisher is not None
    watcher = mqtt_client()
    watcher.subscribe("andon/l1/#")
    line = services.plant.line("l1")
    connections = Connections(clock, mqtt=config.mqtt)
    with ApiClient(create_app(services, tick_seconds=0.05)):
        wait_until(lambda: publisher.connected)
        mes = MqttProductSource(config.line("l1").sources[0], services.plant.sink("l1", "mes"), connections)
        scanner = MqttProductSource(config.line("l1").sources[1], services.plant.sink("l1", "scanner"), connections)
        runner.start(mes)
        runner.start(scanner)
        device = mqtt_client()
        wait_until(lambda: mes.subscribed.is_set() and scanner.subscribed.is_set())  # else a message may pass by
        device.publish("plant/l1/recipe", "7")
        wait_until(lambda: len(line.timeline.runs) == 1)
        clock.set(utc("2026-11-25 08:10"))
        device.publish("plant/l1/product", json.dumps(
            {"product": "B", "order": "WO-77", "qty": 120, "ts": "2026-11-25T08:05:00+00:00"}))
        wait_until(lambda: len(line.timeline.runs) == 2)
        device.publish("plant/l1/product", b"\xff\xfe")  # not UTF-8: refused, acknowledged
        device.publish("plant/l1/product", json.dumps({"product": "no such thing!"}))
        device.publish("plant/l1/recipe", "99")  # no product has recipe 99
        device.publish("plant/l1/product", json.dumps({"product": "A", "order": "WO-78", "qty": -5}))
        wait_until(lambda: mes.rejected["not_utf8"] == 1 and mes.rejected["bad_product"] == 1
                   and scanner.rejected["unknown_recipe"] == 1 and mes.rejected["bad_quantity"] == 1)
        wait_until(lambda: len(watcher.messages("andon/l1/work_order")) == 2)
        wait_until(lambda: len(watcher.messages("andon/l1/product")) == 2)
    publisher.close()
    runs = services.products.runs("l1", utc("2026-11-25 06:00"), utc("2026-11-25 09:00"))
    assert [(r["product"], r["start"], r["end"], r["work_order"], r["source"]) for r in runs] == [
        ("A", "2026-11-25T08:00:00+00:00", "2026-11-25T08:05:00+00:00", None, "scanner"),
        ("B", "2026-11-25T08:05:00+00:00", None, "WO-77", "mes"),
    ]
    products = [json.loads(m[1]) for m in watcher.messages("andon/l1/product")]
    assert [(p["type"], p["run"]["product"], p["run"]["source"]) for p in products] == [
        ("product", "A", "scanner"), ("product", "B", "mes")]
    orders = [json.loads(m[1]) for m in watcher.messages("andon/l1/work_order")]
    assert [(o["action"], o["order"]["id"], o["order"]["quantity"]) for o in orders] == [
        ("created", "WO-77", 120), ("started", "WO-77", 120)]
    assert services.orders.get("WO-77")["state"] == "started"
    assert [o["id"] for o in services.orders.list()] == ["WO-77"]  # the order of -5 parts was not made
    services.plant.close()
