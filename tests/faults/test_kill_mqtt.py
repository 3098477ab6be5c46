"""`andon run` killed with SIGKILL mid-stream loses and doubles nothing: QoS 1 counts are acknowledged
only after their commit, and the PLC counter's last value credits the parts made while it was down."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.conftest import Mosquitto, wait_until
from tests.edge.conftest import AndonProcess, Plc, mqtt_source, plc_source, write_config
from tests.faults.conftest import Runs, fault_config, mqtt_parts, stored_ids, wait_for
from tests.mqtt.conftest import TestClient


def test_andon_run_killed_mid_stream_counts_exactly(
    tmp_path: Path,
    plc: Plc,
    mosquitto: Mosquitto,
    mqtt_client: Callable[..., TestClient],
    andon_server: Callable[..., AndonProcess],
) -> None:
    config = write_config(tmp_path, plc_source(plc.port) + mqtt_source(), mqtt_port=mosquitto.port)
    server = andon_server(config, "run")
    device = mqtt_client("device")
    wait_until(
        lambda: device.publish("plant/line1/parts", '{"n": 1, "id": "probe"}') is not None and server.parts() == 1,
        timeout=15,
        step=0.2,
    )
    plc.set_counter(25)
    wait_until(lambda: server.parts() == 26)

    sent = [device.publish("plant/line1/parts", json.dumps({"n": 1, "id": f"k{i}"}), wait=False) for i in range(200)]
    wait_until(lambda: server.parts() > 26 + 20)
    assert server.proc is not None
    server.proc.send_signal(signal.SIGKILL)  # no clean-up at all: the writer's queue dies with it
    server.proc.wait(10)
    for i in range(200, 400):
        sent.append(device.publish("plant/line1/parts", json.dumps({"n": 1, "id": f"k{i}"}), wait=False))
    for info in sent:
        info.wait_for_publish(5)
    plc.set_counter(60)  # 35 parts made while the server was down

    server.start()
    wait_until(lambda: server.parts() == 1 + 25 + 400 + 35, timeout=30)
    events = server.events()
    ids = [event_id for event_id, *_ in events if event_id.startswith("k")]
    assert sorted(ids) == sorted(f"k{i}" for i in range(400))  # each once
    credited = [(count, flags) for event_id, count, flags, source in events if source == "plc"]
    assert credited[-1] == (35, 1)  # the last PLC event: 35 parts, flagged credited after the outage
    assert server.state()["sources"][0]["online"] is True


def test_unstorable_mqtt_message_stops_nothing(
    tmp_path: Path, runs: Runs, mosquitto: Mosquitto, mqtt_client: Callable[..., TestClient]
) -> None:
    db = tmp_path / "andon.db"
    config = fault_config(tmp_path, db, mqtt_parts(), mosquitto.port)
    server = runs.start(config)
    device = mqtt_client("device")
    device.publish("plant/line1/parts", '{"n": 1, "id": "\\ud800"}')  # valid JSON; no database can store the id
    device.publish("plant/line1/parts", '{"n": 1, "id": "nul\\u0000"}')
    for i in range(50):
        device.publish("plant/line1/parts", json.dumps({"n": 1, "id": f"p{i}"}), wait=False)
    wait_for(lambda: len(stored_ids(db)) == 50, timeout=20)
    assert sorted(stored_ids(db)) == sorted(f"p{i}" for i in range(50))
    assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
    metrics = httpx.get(f"{server.url}/metrics", timeout=5).text
    assert 'andon_source_payloads_rejected_total{line="line1",reason="bad_text",source="parts"} 2.0' in metrics
    assert server.proc is not None
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(20) == 0
    server.proc = None
    assert "stopped; every count is written" in server.log.read_text()
    # Both were acknowledged: a restart gets no redelivery of them, and counts on.
    server = runs.start(config)
    device.publish("plant/line1/parts", json.dumps({"n": 1, "id": "after"}))
    wait_for(lambda: stored_ids(db)[-1:] == ["after"], timeout=20)
    assert len(stored_ids(db)) == 51
