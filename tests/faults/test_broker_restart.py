"""The broker restarted in the middle of a QoS 1 stream into `andon run`: every count once, and the server
says when the broker was away and when it is back."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Mosquitto
from tests.faults.conftest import Runs, fault_config, mqtt_parts, stored_ids, wait_for
from tests.mqtt.conftest import TestClient


def test_broker_restart_mid_stream_counts_each_once(
    tmp_path: Path, runs: Runs, mosquitto: Mosquitto, mqtt_client: Callable[..., TestClient]
) -> None:
    db = tmp_path / "andon.db"
    server = runs.start(fault_config(tmp_path, db, mqtt_parts(), mosquitto.port))
    device = mqtt_client("device", persistent=True)
    wait_for(lambda: server.state()["sources"][0]["online"] is True)
    for i in range(150):
        device.publish("plant/line1/parts", json.dumps({"n": 1, "id": f"b{i}"}), wait=False)
    mosquitto.restart()  # the broker saves its sessions and queue and comes back on the same port
    device.connected.wait(10)
    wait_for(lambda: server.state()["sources"][0]["online"] is True, timeout=20)
    for i in range(150, 300):
        device.publish("plant/line1/parts", json.dumps({"n": 1, "id": f"b{i}"}))
    # Publishes the broker never acknowledged before its restart are sent again by the device (same ids).
    wait_for(lambda: len(set(stored_ids(db))) == 300, timeout=30)
    ids = stored_ids(db)
    assert sorted(ids) == sorted(f"b{i}" for i in range(300))  # each once
    assert server.state()["actual_to_date"] == 300
    log = server.log.read_text()
    assert "unreachable; reconnecting with backoff" in log and "reachable again" in log
