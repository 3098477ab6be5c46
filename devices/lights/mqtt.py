"""A stack light behind MQTT: the pattern is published retained, for smart lights and edge devices.

Payload: the pattern as JSON, keys in a fixed order, e.g.
``{"red":"off","yellow":"flash","green":"on","blue":"off","white":"off","buzzer":"off"}``.
The device flashes itself. The client's last will publishes the fail-safe pattern retained on
the same topic, so the light goes fail-safe when this controller dies, not only when it is quiet.
Broker settings are the plant's ``mqtt`` section (``connections.mqtt``), with optional host/port
overrides here. The light has its own link (``devices/links/mqtt.py``): its will is its own.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Literal

import paho.mqtt.client as paho
from pydantic import Field

from andon.config.bases import StackLightConfigBase, TopicName
from andon.lights import LightPattern
from devices.catalog import Driver
from devices.connections import Connections
from devices.links.mqtt import MqttLink
from devices.links.mqtt_client import Will, broker_settings, device_client_id
from devices.stack_light import StackLight, StackLightError

log = logging.getLogger(__name__)


class MqttLightConfig(StackLightConfigBase):
    """A light that takes its pattern from a retained MQTT topic."""

    type: Literal["mqtt"] = "mqtt"
    topic: TopicName = Field(description="Topic the pattern is published on (retained, QoS 1).")
    qos: Literal[0, 1, 2] = Field(default=1, description="Publish QoS.")
    host: str | None = Field(default=None, description="Broker host, if not the plant's mqtt.host.")
    port: int | None = Field(default=None, ge=1, le=65535, description="Broker port, if not the plant's mqtt.port.")
    client_id: str | None = Field(
        default=None, description="Client id (default: the plant's client id + '-light-' + topic)."
    )


class MqttStackLight(StackLight):
    """Publish the pattern retained; a last will of the fail-safe pattern covers a dead controller."""

    config: MqttLightConfig

    def __init__(self, config: MqttLightConfig, connections: Connections) -> None:
        super().__init__(config, connections)
        self.settings = broker_settings(connections.mqtt, config.host, config.port)
        self.link: MqttLink | None = None
        self._connected = threading.Event()
        self._refused: str | None = None
        self._unreachable = f"broker {self.settings.host}:{self.settings.port} unreachable"

    def describe(self) -> str:
        """Say which topic this light listens on."""
        return self.config.id or f"mqtt {self.config.topic}"

    def _start(self) -> MqttLink:
        if self.link is not None:
            return self.link
        client_id = self.config.client_id or device_client_id(self.settings, "light", self.config.topic)
        will = Will(self.config.topic, self.config.fail_safe.to_json(), qos=self.config.qos, retain=True)
        self.link = MqttLink(self.settings, client_id, persistent=False, will=will, clock=self.clock)
        self.link.attach(self)
        return self.link

    def link_up(self) -> None:
        """The broker is back: the light can be written again."""
        self._connected.set()
        self.faults.ok()

    def link_down(self, reason: str, final: bool) -> None:
        """The broker is away (once per outage); after a final refusal every write fails at once."""
        self._connected.clear()
        if final:
            self._refused = reason
        self.faults.fault(self._refused or self._unreachable)

    async def write(self, pattern: LightPattern) -> None:
        """Publish the pattern retained and wait for the broker to take it."""
        link = self._start()
        if self._refused is not None:
            raise StackLightError(self._refused)
        if not self._connected.is_set():
            await asyncio.to_thread(self._connected.wait, self.config.retry_seconds)
            if not self._connected.is_set():
                raise StackLightError(self._refused or self._unreachable)
        info = link.publish(self.config.topic, pattern.to_json(), qos=self.config.qos, retain=True)
        if info is None:
            raise StackLightError(f"light {self.describe()} is closed")
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise StackLightError(f"publish to {self.config.topic} failed: {paho.error_string(info.rc)}")
        if self.config.qos > 0:
            await asyncio.to_thread(info.wait_for_publish, 5.0)
            if not info.is_published():
                raise StackLightError(f"broker did not confirm the publish to {self.config.topic}")

    async def close(self) -> None:
        """Publish the fail-safe pattern (the light loses its controller) and disconnect."""
        link, self.link = self.link, None
        if link is None:
            return
        if self._connected.is_set():
            info = link.publish(self.config.topic, self.config.fail_safe.to_json(), qos=self.config.qos, retain=True)
            if info is not None and self.config.qos > 0:
                await asyncio.to_thread(info.wait_for_publish, 2.0)
        link.detach(self)
        await asyncio.to_thread(link.close)
        self._connected.clear()


DRIVER = Driver("mqtt", MqttLightConfig, MqttStackLight)
