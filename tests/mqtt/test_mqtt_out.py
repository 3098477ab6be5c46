"""The MQTT publisher against a real Mosquitto broker: retained state, andon events, status and will."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from andon.config.bases import MqttConfig
from collector.mqtt_out import MqttPublisher
from tests.conftest import Mosquitto, wait_until
from tests.mqtt.conftest import TestClient

ROOT = Path(__file__).resolve().parents[2]
STATE = {"line": "line1", "condition": "warning", "plan_to_date": 120, "actual_to_date": 118, "delta": -2}
ANDON = {"type": "raised", "id": 7, "station": "st3", "category": "material", "tier": "team_leader"}


def settings(broker: Mosquitto, **keys: Any) -> MqttConfig:
    """Broker settings for the publisher under test."""
    return MqttConfig.model_validate({"host": "127.0.0.1", "port": broker.port, "client_id": "andon-test", **keys})


@pytest.fixture
def publisher(mosquitto: Mosquitto) -> Iterator[MqttPublisher]:
    """A connected publisher with prefix ``andon``, closed after the test."""
    pub = MqttPublisher(settings(mosquitto))
    wait_until(lambda: pub.connected)
    yield pub
    pub.close()


def test_state_is_retained_and_andon_events_are_not(
    publisher: MqttPublisher, mqtt_client: Callable[..., TestClient]
) -> None:
    live = mqtt_client()
    live.subscribe("andon/#")
    publisher.publish_state("line1", STATE)
    publisher.publish_andon("line1", ANDON)
    wait_until(lambda: len(live.messages("andon/line1/andon")) == 1)
    assert live.messages("andon/line1/state") == [
        ("andon/line1/state", json.dumps(STATE, separators=(",", ":")).encode(), False)
    ]
    assert json.loads(live.messages("andon/line1/andon")[0][1]) == ANDON

    late = mqtt_client()
    late.subscribe("andon/#")
    wait_until(lambda: len(late.messages()) == 2)
    assert sorted(late.messages()) == [
        (
            "andon/line1/state",
            b'{"line":"line1","condition":"warning","plan_to_date":120,"actual_to_date":118,"delta":-2}',
            True,
        ),
        ("andon/status", b"online", True),
    ]


def test_latest_state_wins(publisher: MqttPublisher, mqtt_client: Callable[..., TestClient]) -> None:
    for actual in (1, 2, 3):
        publisher.publish_state("line2", {"actual_to_date": actual})
    live = mqtt_client()
    live.subscribe("andon/#")
    publisher.publish_andon("line2", {"type": "marker"})  # in order after the states
    wait_until(lambda: len(live.messages("andon/line2/andon")) == 1)
    assert live.messages("andon/line2/state") == [("andon/line2/state", b'{"actual_to_date":3}', True)]


@pytest.mark.parametrize(("keys", "delivered"), [({}, 1), ({"state_qos": 0}, 0)])
def test_live_states_go_at_the_configured_qos(
    mosquitto: Mosquitto, mqtt_client: Callable[..., TestClient], keys: dict[str, Any], delivered: int
) -> None:
    # A QoS 1 subscriber gets live states at QoS 1 by default (its acknowledgements keep the broker's
    # small sends from waiting on delayed TCP acks), at QoS 0 when the broker settings ask for it.
    pub = MqttPublisher(settings(mosquitto, **keys))
    try:
        wait_until(lambda: pub.connected)
        live = mqtt_client()
        live.subscribe("andon/line3/state")
        for actual in (1, 2):
            pub.publish_state("line3", {"actual_to_date": actual})
        wait_until(lambda: len(live.messages("andon/line3/state")) == 2)
        assert live.qos == [("andon/line3/state", delivered)] * 2
        assert [m[1] for m in live.messages("andon/line3/state")] == [b'{"actual_to_date":1}', b'{"actual_to_date":2}']
    finally:
        pub.close()


def test_close_announces_offline(mosquitto: Mosquitto, mqtt_client: Callable[..., TestClient]) -> None:
    pub = MqttPublisher(settings(mosquitto, topic_prefix="plant/andon/"))
    wait_until(lambda: pub.connected)
    pub.close()
    watcher = mqtt_client()
    watcher.subscribe("plant/andon/status")
    wait_until(lambda: len(watcher.messages()) == 1)
    assert watcher.messages() == [("plant/andon/status", b"offline", True)]


def test_unencodable_state_is_refused_with_a_log_line(
    publisher: MqttPublisher, caplog: pytest.LogCaptureFixture
) -> None:
    publisher.publish_state("line1", {"at": object()})
    assert any(r.levelname == "ERROR" and "state of line 'line1'" in r.message for r in caplog.records)


def test_last_will_says_offline_when_the_publisher_dies(
    mosquitto: Mosquitto, mqtt_client: Callable[..., TestClient]
) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        from andon.config.bases import MqttConfig
        from collector.mqtt_out import MqttPublisher
        pub = MqttPublisher(MqttConfig.model_validate({{"port": {mosquitto.port}, "client_id": "edge"}}))
        while not pub.connected:
            time.sleep(0.01)
        pub.publish_state("line1", {{"condition": "normal"}})
        print("ready", flush=True)
        time.sleep(60)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=ROOT, env=env)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        watcher = mqtt_client()
        watcher.subscribe("andon/#")
        wait_until(lambda: len(watcher.messages()) == 2)
        assert sorted(watcher.messages()) == [
            ("andon/line1/state", b'{"condition":"normal"}', True),
            ("andon/status", b"online", True),
        ]
        proc.send_signal(signal.SIGKILL)  # no DISCONNECT: the broker must send the will
        proc.wait(5)
        wait_until(lambda: len(watcher.messages("andon/status")) == 2)
        assert watcher.messages("andon/status")[1] == ("andon/status", b"offline", False)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    late = mqtt_client()
    late.subscribe("andon/status")
    wait_until(lambda: len(late.messages()) == 1)
    assert late.messages() == [("andon/status", b"offline", True)]


def test_state_published_while_the_broker_is_away_arrives_when_it_is_back(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path)
    pub = MqttPublisher(settings(broker))
    try:
        wait_until(lambda: pub.fault is not None)
        assert pub.fault == f"MQTT broker 127.0.0.1:{broker.port} unreachable"
        pub.publish_state("line1", {"actual_to_date": 1})
        pub.publish_state("line1", {"actual_to_date": 2})
        pub.publish_andon("line1", {"type": "raised", "id": 1})
        broker.start()
        wait_until(lambda: pub.connected, 10)
        watcher = TestClient(broker, "")
        try:
            watcher.subscribe("andon/#")
            wait_until(lambda: len(watcher.messages()) == 2)
            assert sorted(watcher.messages()) == [
                ("andon/line1/state", b'{"actual_to_date":2}', True),
                ("andon/status", b"online", True),
            ]
        finally:
            watcher.close()
    finally:
        pub.close()
        broker.stop()
