"""Stop events reach MQTT <prefix>/<line>/stop through the live hub, against a real Mosquitto broker."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from andon.clock import ManualClock
from collector.outputs import attach_mqtt_outputs
from tests.api.api_fixtures import api
from tests.api.test_losses_api import CONFIG, at
from tests.conftest import Mosquitto, wait_until
from tests.mqtt.conftest import TestClient


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
