"""Stop events reach MQTT <prefix>/<line>/stop through the live hub, and scrap messages carry their reason code,
against a real Mosquitto broker."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from andon.clock import ManualClock
from andon.config.loader import ConfigError, parse_config
from collector.outputs import attach_mqtt_outputs
from devices.connections import Connections
from devices.sources.mqtt import MqttSource
from tests.api.api_fixtures import api
from tests.api.test_losses_api import CONFIG, at
from tests.conftest import Mosquitto, wait_until
from tests.core.plant_fixtures import make_plant
from tests.mqtt.conftest import SourceRunner, TestClient


def test_stop_open_reason_and_close_are_published(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_client: Callable[..., TestClient],
) -> None:
    text = CONFIG + f"mqtt: {{{{host: 127.0.0.1, port: {mosquitto.port}, client_id: stops-test}}}}\n"
    clock = ManualClock(at("06:00"))
    live = mqtt_client()
    live.subscribe("andon/line1/stop")
    with api(tmp_path, clock, text=text) as client:
        publisher = attach_mqtt_outputs(client.services)  # type: ignore[attr-defined]
        assert publisher is not None
        try:
            wait_until(lambda: publisher.connected)
            client.post("/api/lines/line1/counts", json={"ts": at("06:01")})
            clock.set(at("06:10"))
            stop = client.get("/api/lines/line1/state").json()["stop"]
            client.put(f"/api/lines/line1/stops/{stop['id']}/reason", json={"reason": "jam"})
            client.post("/api/lines/line1/counts", json={"ts": at("06:10")})
            client.get("/api/lines/line1/state")
            wait_until(lambda: [json.loads(m[1])["event"] for m in live.messages()][-3:] == ["open", "reason", "close"])
        finally:
            publisher.close()
    events = [json.loads(m[1]) for m in live.messages()]
    last = events[-1]
    assert (last["type"], last["line"], last["stop"]["id"], last["stop"]["reason"], last["stop"]["seconds"]) == (
        "stop", "line1", stop["id"], "jam", 540)
    assert all(not retained for _topic, _payload, retained in live.messages())


SCRAP_CONFIG = """
plant: {{name: P, timezone: UTC}}
database: sqlite:///{db}
mqtt: {{host: 127.0.0.1, port: {port}, client_id: andon-scrap-test}}
shifts:
  - {{id: early, start: "06:00", end: "14:00"}}
lines:
  - id: l1
    takt_seconds: 60
    sources:
      - {{type: mqtt, id: scrap, topic: plant/l1/scrap, kind: scrap, mode: increment, field: n, id_field: id,
         reason_field: reason, scrap_reason: other}}
"""


def test_a_scrap_message_carries_its_reason_code(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_client: Callable[..., TestClient], runner: SourceRunner,
) -> None:
    clock = ManualClock(at("08:00"))
    config = parse_config(SCRAP_CONFIG.format(db=tmp_path / "andon.db", port=mosquitto.port))
    plant = make_plant(config, clock)
    source = MqttSource(config.line("l1").sources[0], plant.sink("l1", "scrap"), Connections(clock, mqtt=config.mqtt))
    device = mqtt_client()
    task = runner.start(source)
    try:
        probe = json.dumps({"n": 1, "id": "probe", "reason": "other"}).encode()

        def probed() -> bool:  # the same message (one id) until it is stored: the source has subscribed
            device.publish("plant/l1/scrap", probe)
            return len(stored(tmp_path)) == 1

        wait_until(probed)
        for payload in (
            {"n": 2, "id": "a", "reason": "adjustment"},  # a code of the tree: stored with it
            {"n": 1, "id": "b"},  # none in the message: the source's scrap_reason
            {"n": 4, "id": "c", "reason": "no_such_code"},  # refused by the plant, acknowledged
            {"n": 3, "id": "d", "reason": 17},  # not a code: refused by the source
            {"n": 5, "id": "e", "reason": "jam"},
        ):
            device.publish("plant/l1/scrap", json.dumps(payload).encode())
        wait_until(lambda: len(stored(tmp_path)) == 4)
        assert stored(tmp_path) == [(1, "scrap", "other"), (2, "scrap", "adjustment"), (1, "scrap", "other"),
                                    (5, "scrap", "jam")]
    finally:
        runner.stop(task)
        plant.close()
    assert plant.metrics.rejected.labels("l1", "unknown_reason")._value.get() == 1
    assert source.rejected["bad_reason"] == 1


def stored(tmp_path: Path) -> list[tuple[int, str, str | None]]:
    with sqlite3.connect(tmp_path / "andon.db") as db:
        return list(db.execute("SELECT count, kind, reason FROM count_events ORDER BY id"))


def test_a_reason_field_belongs_to_a_scrap_source(tmp_path: Path) -> None:
    good_only = SCRAP_CONFIG.replace("kind: scrap, ", "").replace(", scrap_reason: other", "")
    with pytest.raises(ConfigError, match="reason_field belongs to a count source with kind scrap"):
        parse_config(good_only.format(db=tmp_path / "andon.db", port=1883))
