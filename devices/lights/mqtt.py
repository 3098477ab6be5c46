"""A stack light behind MQTT: the pattern is published retained, for smart lights and edge devices.

Payload: the pattern as JSON, keys in a fixed order, e.g.
``{"red":"off","yellow":"flash","green":"on","blue":"off","white":"off","buzzer":"off"}``.
The device flashes itself. The client's last will publishes the fail-safe pattern retained on
the same topic, so the light goes fail-safe when this controller dies, not only when it is quiet.
Broker settings are the plant's ``mqtt`` section (``context.shared["mqtt"]``), with optional
host/port overrides here.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from typing import Any, Literal

from pydantic import Field

from andon.config.bases import StackLightConfigBase
from andon.lights import LightPattern
from devices.catalog import Driver
from devices.connections import Connections
from devices.sources.mqtt import broker_settings, new_client, refusal_is_final
from devices.stack_light import StackLight, StackLightError

log = logging.getLogger(__name__)


class MqttLightConfig(StackLightConfigBase):
    """A light that takes its pattern from a retained MQTT topic."""

    type: Literal["mqtt"] = "mqtt"
    topic: str = Field(description="Topic the pattern is published on (retained, QoS 1).")
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
        self.settings = broker_settings(connections, config.host, config.port)
        self._client: Any = None
        self._connected = threading.Event()
        self._refused: str | None = None

    def describe(self) -> str:
        """Say which topic this light listens on."""
        return self.config.id or f"mqtt {self.config.topic}"

    def _start(self) -> Any:
        if self._client is not None:
            return self._client
        safe_topic = re.sub(r"[^A-Za-z0-9_-]+", "-", self.config.topic).strip("-")
        client_id = self.config.client_id or f"{self.settings.client_id}-light-{safe_topic}"
        client = new_client(self.settings, client_id, persistent=False)
        client.will_set(self.config.topic, self.config.fail_safe.to_json(), qos=self.config.qos, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.connect_async(self.settings.host, self.settings.port, keepalive=self.settings.keepalive)
        client.loop_start()
        self._client = client
        return client

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            if refusal_is_final(reason.getName()):
                self._refused = f"broker {self.settings.host}:{self.settings.port} refused: {reason}"
                client.disconnect()  # stop: retrying with the same credentials cannot help
            return
        self._connected.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self._connected.clear()

    async def write(self, pattern: LightPattern) -> None:
        """Publish the pattern retained and wait for the broker to take it."""
        import paho.mqtt.client as paho

        client = self._start()
        if self._refused is not None:
            raise StackLightError(self._refused)
        if not self._connected.is_set():
            await asyncio.to_thread(self._connected.wait, self.config.retry_seconds)
            if not self._connected.is_set():
                raise StackLightError(self._refused or f"broker {self.settings.host}:{self.settings.port} unreachable")
        info = client.publish(self.config.topic, pattern.to_json(), qos=self.config.qos, retain=True)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise StackLightError(f"publish to {self.config.topic} failed: {paho.error_string(info.rc)}")
        if self.config.qos > 0:
            await asyncio.to_thread(info.wait_for_publish, 5.0)
            if not info.is_published():
                raise StackLightError(f"broker did not confirm the publish to {self.config.topic}")

    async def close(self) -> None:
        """Publish the fail-safe pattern (the light loses its controller) and disconnect."""
        client, self._client = self._client, None
        if client is not None:
            if self._connected.is_set():
                info = client.publish(
                    self.config.topic,
                    self.config.fail_safe.to_json(),
                    qos=self.config.qos,
                    retain=True,
                )
                if self.config.qos > 0:
                    await asyncio.to_thread(info.wait_for_publish, 2.0)
            client.disconnect()
            client.loop_stop()
            self._connected.clear()


DRIVER = Driver("mqtt", MqttLightConfig, MqttStackLight)
