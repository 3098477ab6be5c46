"""Hostile MQTT payloads against the real plant on a real broker: every message ends, none stalls.

The broker is set to hold at most 5 unacknowledged QoS 1 messages per client, as a plant broker
would: a payload that was never acknowledged would stop delivery for every source on the connection.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from andon.clock import ManualClock
from andon.config.loader import parse_config
from andon.plant import Plant
from andon.storage.store import Store, open_database
from collector.outputs import SourceRejects
from collector.sources import SourceRunner as Sources
from devices.sources.mqtt import MqttSource
from tests.conftest import Mosquitto, wait_until
from tests.core.engine_fixtures import utc
from tests.mqtt.conftest import SourceRunner, TestClient

CONFIG = """
plant: {{name: Hostile Plant, timezone: Europe/London}}
database: sqlite:///{db}
mqtt: {{host: 127.0.0.1, port: {port}, client_id: andon-hostile}}
shifts:
  - {{id: early, start: "06:00", end: "14:00"}}
lines:
  - id: line1
    takt_seconds: 60
    sources:
      - {{type: mqtt, id: json, topic: plant/line1/parts, field: count, id_field: id, time_field: ts}}
      - {{type: mqtt, id: bare, topic: plant/line1/bare}}
"""

HUGE = "1" + "0" * 400
# (topic, payload, where the reject is counted, reason); each is sent three times.
HOSTILE: list[tuple[str, bytes, str, str]] = [
    ("parts", b'{"count": ' + HUGE.encode() + b"}", "json", "out_of_range"),
    ("parts", b'{"count": 1, "deep": ' + b"[" * 5000 + b"]" * 5000 + b"}", "json", "too_deep"),
    ("parts", b'{"count": 1, "deep": ' + b"[" * 40 + b"]" * 40 + b"}", "json", "too_deep"),
    ("parts", b'{"count": 1, "id": "\\ud800"}', "json", "bad_text"),
    ("parts", b'{"count": 1, "id": "a\\u0000b"}', "json", "bad_text"),
    ("parts", b'{"count": 1, "id": "' + b"x" * 129 + b'"}', "json", "bad_id"),
    ("parts", b'{"count": 1, "id": "tab\\there"}', "json", "bad_id"),
    ("parts", b'{"count": NaN}', "json", "not_finite"),
    ("parts", b'{"count": -Infinity}', "json", "not_finite"),
    ("parts", b'{"count": 1e309}', "json", "out_of_range"),
    ("parts", b'{"count": true}', "json", "not_a_number"),
    ("parts", b'{"count": 1, "ts": 1e300}', "plant", "bad_time"),
    ("bare", HUGE.encode(), "bare", "out_of_range"),
    ("bare", b"1" * 5000, "bare", "out_of_range"),
    ("bare", b"NaN", "bare", "not_a_number"),
]


@pytest.fixture
def tight_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A real Mosquitto that stops delivering to a client holding 5 unacknowledged messages."""
    broker = Mosquitto(tmp_path)
    broker.conf.write_text(broker.conf.read_text().replace("max_inflight_messages 0", "max_inflight_messages 5"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def exported(sources: Sources) -> dict[tuple[str, str], float]:
    """Return the source reject counters as /metrics exports them: (source, reason) -> value."""
    family = next(iter(SourceRejects(sources).collect()))
    return {(s.labels["source"], s.labels["reason"]): s.value for s in family.samples if s.name.endswith("_total")}


def plant_rejects(plant: Plant, reason: str) -> float:
    """Return the plant's own reject counter for a reason (0 when never counted)."""
    value = plant.metrics.registry.get_sample_value("andon_events_rejected_total", {"line": "line1", "reason": reason})
    return value or 0.0


def good_parts(plant: Plant) -> float:
    """Return the parts the plant counted on line1."""
    return plant.metrics.registry.get_sample_value("andon_parts_total", {"line": "line1", "kind": "good"}) or 0.0


def start_sources(plant: Plant, runner: SourceRunner) -> tuple[Sources, list[Any]]:
    """Build the line's MQTT sources as ``andon run`` does and start them on the test loop."""
    sources = Sources(plant.config, plant.sink, plant.clock)
    sources.build()
    drivers = list(sources.drivers.values())
    assert all(isinstance(d, MqttSource) for d in drivers)
    tasks = [runner.start(driver) for driver in drivers]
    wait_until(lambda: all(d.subscribed.is_set() for d in drivers))  # type: ignore[attr-defined]
    return sources, tasks


def test_every_hostile_payload_is_rejected_acknowledged_and_the_next_count_counts(
    tight_broker: Mosquitto, runner: SourceRunner, tmp_path: Path
) -> None:
    config = parse_config(CONFIG.format(db=tmp_path / "andon.db", port=tight_broker.port))
    plant = Plant(config, Store(open_database(config.database)), ManualClock(utc("2026-11-25 07:30")))
    device = TestClient(tight_broker, "press-1")
    try:
        sources, tasks = start_sources(plant, runner)
        for topic, payload, _, _ in HOSTILE * 3:
            device.publish(f"plant/line1/{topic}", payload)
        device.publish("plant/line1/parts", json.dumps({"count": 4, "id": "good-1"}))
        wait_until(lambda: good_parts(plant) == 4)

        expected: dict[tuple[str, str], float] = {}
        for _, _, where, reason in HOSTILE:
            if where != "plant":
                expected[(where, reason)] = expected.get((where, reason), 0) + 3
        wait_until(lambda: exported(sources) == expected and plant_rejects(plant, "bad_time") == 3)
        assert expected[("json", "out_of_range")] == 6 and expected[("bare", "out_of_range")] == 6
        assert plant_rejects(plant, "bad_time") == 3

        # A restart on the same persistent session: nothing hostile comes back (every one was acknowledged).
        for task in tasks:
            runner.stop(task)
        sources2, _ = start_sources(plant, runner)
        device.publish("plant/line1/parts", json.dumps({"count": 3, "id": "good-2"}))
        device.publish("plant/line1/bare", b"2")
        wait_until(lambda: good_parts(plant) == 9)
        assert exported(sources2) == {}
        assert plant_rejects(plant, "bad_time") == 3
    finally:
        device.close()
        plant.close()
