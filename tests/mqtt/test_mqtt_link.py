"""The MQTT link against a real Mosquitto: final and transient refusals, one report per outage per user,
subscriptions made again after a broker that forgot them."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from andon.clock import ManualClock
from andon.config.bases import MqttConfig
from andon.lights import LightPattern
from collector.mqtt_out import MqttPublisher
from devices.buttons.mqtt import MqttAndonButton, MqttButtonConfig
from devices.connections import Connections
from devices.lights.mqtt import MqttLightConfig, MqttStackLight
from devices.links.mqtt import MqttLink, Settle, Subscription
from devices.links.mqtt_client import refusal_is_final
from devices.sources.mqtt import MqttSource, MqttSourceConfig
from tests.conftest import Mosquitto, RecordingSink, wait_until
from tests.lights.conftest import RecordingActions
from tests.mqtt.conftest import SourceRunner, TestClient

T0 = 1_800_000_000.0


class RecordingUser:
    """A link user that records what it is told, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, bool]] = []
        self.lock = threading.Lock()

    def link_up(self) -> None:
        """Record that the link is up."""
        with self.lock:
            self.events.append(("up", "", False))

    def link_down(self, reason: str, final: bool) -> None:
        """Record that the link is down, and why."""
        with self.lock:
            self.events.append(("down", reason, final))

    def told(self) -> list[tuple[str, str, bool]]:
        """Return what it was told so far."""
        with self.lock:
            return list(self.events)


def settings(port: int, **keys: object) -> MqttConfig:
    """Broker settings on the test broker."""
    return MqttConfig.model_validate({"host": "127.0.0.1", "port": port, "client_id": "plant", **keys})


def records(caplog: pytest.LogCaptureFixture, level: int, *words: str) -> list[str]:
    """Return the captured log messages at ``level`` that hold every one of ``words``."""
    return [r.getMessage() for r in caplog.records if r.levelno == level and all(w in r.getMessage() for w in words)]


@pytest.mark.parametrize(
    ("code", "final"),
    [(0x88, False), (0x89, False), (0x9F, False), (0x87, True), (0x86, True), (0x85, True)],
)
def test_refusals_the_broker_may_cure_are_retried_the_others_are_final(code: int, final: bool) -> None:
    # The names come from paho's own table (0x88 Server unavailable ... 0x87 Not authorized).
    assert refusal_is_final(ReasonCode(PacketTypes.CONNACK, identifier=code).getName()) is final


def test_final_refusal_stops_the_link_with_one_error_and_tells_each_user_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broker = Mosquitto(tmp_path)
    broker.conf.write_text(broker.conf.read_text().replace("allow_anonymous true", "allow_anonymous false"))
    broker.start()
    link = MqttLink(settings(broker.port, username="u", password="p"), "plant", persistent=True)
    first, second, late = RecordingUser(), RecordingUser(), RecordingUser()
    try:
        link.attach(first)
        link.attach(second)
        reason = f"MQTT broker 127.0.0.1:{broker.port} refused the connection: Not authorized"
        wait_until(lambda: first.told() == [("down", reason, True)])
        time.sleep(1.5)  # the reconnect backoff starts at 1 s: a link that retried would be back by now
        assert first.told() == second.told() == [("down", reason, True)]
        link.attach(late)  # a driver starting after the refusal hears it at once
        assert late.told() == [("down", reason, True)]
        assert (link.connected, link.fault) == (False, reason)
        assert (tmp_path / "mosquitto.log").read_text().count("disconnected, not authorised") == 1
        assert len(records(caplog, logging.ERROR, "refused")) == 1
    finally:
        link.close()
        broker.stop()


def test_broker_away_is_retried_logged_once_and_recovers_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Mosquitto 2.0 sends no transient CONNACK refusal (its max_connections only closes the socket):
    # a broker that is not there yet takes the same path, retried with backoff until it answers.
    caplog.set_level(logging.DEBUG, logger="devices.links.mqtt")
    broker = Mosquitto(tmp_path)
    link = MqttLink(settings(broker.port), "plant", persistent=False)
    user = RecordingUser()
    try:
        link.attach(user)
        down = f"MQTT broker 127.0.0.1:{broker.port} unreachable"
        wait_until(lambda: len(records(caplog, logging.DEBUG, down, "still")) >= 2, timeout=15)
        broker.start()
        wait_until(lambda: link.connected, timeout=35)
        assert user.told() == [("down", down, False), ("up", "", False)]
        assert len(records(caplog, logging.ERROR, down, "reconnecting with backoff")) == 1
        assert len(records(caplog, logging.INFO, "reachable again")) == 1
        assert link.fault is None
    finally:
        link.close()
        broker.stop()


def test_subscriptions_are_made_again_after_a_broker_that_forgot_them(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path)
    broker.conf.write_text(broker.conf.read_text().replace("persistence true", "persistence false"))
    broker.start()
    link = MqttLink(settings(broker.port), "plant", persistent=True, clock=ManualClock(T0))
    received: list[bytes] = []
    confirmed: list[int] = []

    def handle(message: object, settle: Settle) -> None:
        received.append(bytes(message.payload))  # type: ignore[attr-defined]
        settle()

    link.subscribe(Subscription("plant/line1/parts", 1, handle, lambda: confirmed.append(1)))
    link.attach(RecordingUser())
    try:
        wait_until(lambda: confirmed == [1])
        broker.restart()  # no persistence: the session and its subscription are gone
        wait_until(lambda: confirmed == [1, 1], timeout=35)
        device = TestClient(broker, "device")
        try:
            device.publish("plant/line1/parts", b"7")
            wait_until(lambda: received == [b"7"])
        finally:
            device.close()
    finally:
        link.close()
        broker.stop()


def run_on(runner: SourceRunner, work: Callable[[], object]) -> None:
    """Run a coroutine function on the runner's loop and wait for it."""
    asyncio.run_coroutine_threadsafe(work(), runner.loop).result(15)  # type: ignore[arg-type]


def announced(watcher: TestClient) -> list[bytes]:
    """Return the ``online`` announcements the publisher made on its status topic."""
    return [payload for _, payload, _ in watcher.messages("andon/status") if payload == b"online"]


def test_each_user_hears_of_a_broker_restart_once_and_of_the_recovery_once(
    mosquitto: Mosquitto, runner: SourceRunner, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    connections = Connections(ManualClock(T0), mqtt=settings(mosquitto.port))
    sink = RecordingSink()
    source = MqttSource(MqttSourceConfig(type="mqtt", topic="plant/line1/parts"), sink, connections)
    button_config = MqttButtonConfig(type="mqtt", topic="plant/line1/buttons", category="quality", id="box",
                                     client_id="plant")  # the plant's id: the button shares the sources' link
    actions = RecordingActions()
    button = MqttAndonButton(button_config, "line1", actions, connections)
    light = MqttStackLight(MqttLightConfig(type="mqtt", topic="plant/line1/light"), connections)
    publisher = MqttPublisher(settings(mosquitto.port))
    watcher = TestClient(mosquitto, "watcher", persistent=True)  # keeps its subscription across the restart
    watcher.subscribe("andon/#")
    tasks = [runner.start(source), runner.start(button)]  # type: ignore[arg-type]
    try:
        run_on(runner, lambda: light.show(LightPattern(green="on")))
        wait_until(lambda: sink.events == [("online", "")] and button.subscribed.is_set() and publisher.connected)
        assert len(connections.brokers) == 1 and source.connection is button.link
        publisher.publish_state("line1", {"actual_to_date": 3})
        wait_until(lambda: len(watcher.messages("andon/line1/state")) == 1)

        mosquitto.stop()
        wait_until(lambda: len(records(caplog, logging.DEBUG, "unreachable (still; client plant)")) >= 1, 10)
        mosquitto.start()
        wait_until(lambda: len(sink.events) == 3 and light._connected.is_set() and publisher.connected, 35)
        watcher.connected.wait(10)
        wait_until(lambda: announced(watcher) == [b"online", b"online"], 10)
        device = TestClient(mosquitto, "device")
        try:
            device.publish("plant/line1/buttons", b'{"station": "st3"}')
            device.publish("plant/line1/parts", b"5")
            wait_until(lambda: sink.values() == [5] and len(actions.calls) == 1)
        finally:
            device.close()

        unreachable = f"127.0.0.1:{mosquitto.port} unreachable"
        assert sink.events == [("online", ""), ("offline", f"MQTT broker {unreachable}"), ("online", "")]
        assert len(records(caplog, logging.ERROR, "andon button box on line1", unreachable)) == 1
        assert len(records(caplog, logging.INFO, "andon button box on line1", "recovered")) == 1
        assert len(records(caplog, logging.ERROR, "stack light mqtt plant/line1/light", unreachable)) == 1
        assert len(records(caplog, logging.INFO, "stack light mqtt plant/line1/light", "recovered")) == 1
        assert announced(watcher) == [b"online", b"online"]  # once per connection (the broker sends the wills)
        # The latest state again on the new connection. QoS 1 is at least once: when the broker stops before the
        # first state's acknowledgements (the publisher's or the watcher's) are through, it comes a third time.
        states = [m[1] for m in watcher.messages("andon/line1/state")]
        assert set(states) == {b'{"actual_to_date":3}'} and len(states) in (2, 3), states
        # Three links (sources and button, light, publisher): each logs the outage once and the recovery once.
        assert len(records(caplog, logging.ERROR, "unreachable; reconnecting with backoff")) == 3
        assert len(records(caplog, logging.INFO, "reachable again")) == 3
        assert actions.calls == [("raise", "line1", "st3", "quality", "button:box")]
    finally:
        for task in tasks:
            runner.stop(task)
        run_on(runner, light.close)
        publisher.close()
        watcher.close()
    assert len(connections.brokers) == 0
