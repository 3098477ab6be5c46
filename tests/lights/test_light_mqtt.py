"""MQTT stack light against a real Mosquitto broker: retained pattern, will and close."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import paho.mqtt.client as paho

from andon.clock import ManualClock
from andon.config.bases import MqttConfig
from andon.lights import LightPattern
from devices.connections import Connections
from devices.lights.mqtt import MqttLightConfig, MqttStackLight
from tests.conftest import Mosquitto, wait_until

T0 = 1_800_000_000.0
TOPIC = "plant/line1/light"
GREEN = '{"red":"off","yellow":"off","green":"on","blue":"off","white":"off","buzzer":"off"}'
FAIL_SAFE = '{"red":"off","yellow":"flash","green":"off","blue":"off","white":"off","buzzer":"off"}'


class Watcher:
    """A separate MQTT client recording (payload, retained) on the light's topic."""

    count = 0

    def __init__(self, port: int) -> None:
        Watcher.count += 1
        self.messages: list[tuple[str, bool]] = []
        self.lock = threading.Lock()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"watcher{Watcher.count}")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(TOPIC, qos=1)
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        with self.lock:
            self.messages.append((message.payload.decode(), bool(message.retain)))

    def payloads(self) -> list[str]:
        """Return the payloads received so far."""
        with self.lock:
            return [p for p, _ in self.messages]

    def stop(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


def light_for(broker: Mosquitto, clock: ManualClock) -> MqttStackLight:
    """Build an MQTT light on the test broker (plant settings from connections.mqtt)."""
    config = MqttLightConfig.model_validate({"type": "mqtt", "topic": TOPIC})
    settings = MqttConfig(host="127.0.0.1", port=broker.port, client_id="edge1")
    return MqttStackLight(config, Connections(clock, mqtt=settings))


def test_pattern_is_published_retained_once_per_change(mosquitto: Mosquitto) -> None:
    """Each change is one retained message; a late subscriber gets it; close leaves fail-safe."""
    clock = ManualClock(T0)
    light = light_for(mosquitto, clock)
    watcher = Watcher(mosquitto.port)

    async def scenario() -> None:
        await light.show(LightPattern(green="on"))
        await light.show(LightPattern(green="on"))
        await light.show(LightPattern(green="on", blue="flash", buzzer="pulse"))

    try:
        asyncio.run(scenario())
        wait_until(lambda: len(watcher.payloads()) >= 2)
        assert watcher.payloads() == [
            GREEN,
            '{"red":"off","yellow":"off","green":"on","blue":"flash","white":"off","buzzer":"pulse"}',
        ]
        late = Watcher(mosquitto.port)
        try:
            wait_until(lambda: len(late.messages) >= 1)
            assert late.messages[0] == (
                '{"red":"off","yellow":"off","green":"on","blue":"flash","white":"off","buzzer":"pulse"}',
                True,
            )
        finally:
            late.stop()
        asyncio.run(light.close())  # the controller stops: the light goes fail-safe
        wait_until(lambda: len(watcher.payloads()) >= 3)
        assert watcher.payloads()[2:] == [FAIL_SAFE]
    finally:
        asyncio.run(light.close())
        watcher.stop()


def test_dead_controller_leaves_the_fail_safe_will(mosquitto: Mosquitto) -> None:
    """The connection drops without DISCONNECT: the broker publishes the fail-safe, retained."""
    clock = ManualClock(T0)
    light = light_for(mosquitto, clock)
    watcher = Watcher(mosquitto.port)
    try:
        asyncio.run(light.show(LightPattern(green="on")))
        wait_until(lambda: watcher.payloads() == [GREEN])
        light.link.client.socket().close()  # type: ignore[union-attr]  # the controller vanishes: no DISCONNECT packet
        wait_until(lambda: FAIL_SAFE in watcher.payloads())
        assert watcher.payloads()[:2] == [GREEN, FAIL_SAFE]
    finally:
        asyncio.run(light.close())
        watcher.stop()


def test_broker_down_is_a_fault_then_recovers(mosquitto: Mosquitto) -> None:
    """No broker: the write fails with a clear fault; the broker returns: the retry publishes."""
    clock = ManualClock(T0)
    mosquitto.stop()
    light = light_for(mosquitto, clock)
    light.config = light.config.model_copy(update={"retry_seconds": 0.5})
    try:
        asyncio.run(light.show(LightPattern(green="on")))
        assert light.faults.current == f"broker 127.0.0.1:{mosquitto.port} unreachable"
        mosquitto.start()
        clock.set(T0 + 1)
        wait_until(lambda: light._connected.is_set(), timeout=15)
        asyncio.run(light.step())
        assert light.faults.current is None
        watcher = Watcher(mosquitto.port)
        wait_until(lambda: watcher.messages[:1] == [(GREEN, True)])
        watcher.stop()
    finally:
        asyncio.run(light.close())
