"""`andon run` killed with SIGKILL mid-stream loses and doubles nothing: QoS 1 counts are acknowledged
only after their commit, and the PLC counter's last value credits the parts made while it was down."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Mosquitto, wait_until
from tests.edge.conftest import AndonProcess, Plc, mqtt_source, plc_source, write_config
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
