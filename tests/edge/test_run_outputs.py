"""`andon run` with a broker: line state published retained, source rejects on /metrics."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.conftest import Mosquitto, wait_until
from tests.edge.conftest import AndonProcess, mqtt_source, write_config
from tests.mqtt.conftest import TestClient


def test_andon_run_publishes_state_and_counts_rejected_payloads(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_client: Callable[..., TestClient],
    andon_server: Callable[..., AndonProcess],
) -> None:
    config = write_config(tmp_path, mqtt_source(), mqtt_port=mosquitto.port)
    server = andon_server(config, "run")
    watcher = mqtt_client("watcher")
    watcher.subscribe("andon/#")
    wait_until(lambda: [m[1] for m in watcher.messages("andon/status")][-1:] == [b"online"])
    device = mqtt_client("device")

    def published_actual() -> int | None:
        states = watcher.messages("andon/line1/state")
        return json.loads(states[-1][1])["actual_to_date"] if states else None

    wait_until(lambda: device.publish("plant/line1/parts", '{"n": 1, "id": "probe"}') is not None
               and published_actual() == 1, timeout=15, step=0.2)
    for text in ('{"n": 4, "id": "b1"}', "garbage", '{"id": "b2"}', '{"n": 2, "id": "b3"}'):
        device.publish("plant/line1/parts", text)
    wait_until(lambda: published_actual() == 7)
    assert server.state()["actual_to_date"] == 7
    metrics = httpx.get(f"{server.url}/metrics", timeout=5).text
    rejects = {}
    for labels, value in re.findall(r"^andon_source_payloads_rejected_total\{([^}]*)\} (\S+)$", metrics, re.M):
        named = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        rejects[(named["line"], named["source"], named["reason"])] = float(value)
    assert rejects == {("line1", "parts", "not_json"): 1.0, ("line1", "parts", "missing_field"): 1.0}

    server.stop()
    wait_until(lambda: watcher.messages("andon/status")[-1][1] == b"offline")
    late = mqtt_client("late")
    late.subscribe("andon/line1/state")
    wait_until(lambda: bool(late.messages("andon/line1/state")))
    _, payload, retained = late.messages("andon/line1/state")[0]
    assert retained and json.loads(payload)["actual_to_date"] == 7
