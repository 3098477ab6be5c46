"""Andon buttons that publish on MQTT: ``{"station": .., "category": .., "action": ..}``.

``action`` is ``raise`` (the default when absent), ``acknowledge`` or ``resolve``; ``station``
and ``category`` default to the ones configured here. QoS 1 with a persistent session, so the
broker keeps presses while this edge restarts. Broker settings come from the plant's ``mqtt``
section (``connections.mqtt``), with optional host/port overrides. The connection is a shared link
(``devices/links/mqtt.py``): buttons and count sources with the same broker and client id use one client.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Literal

from paho.mqtt.client import MQTTMessage
from pydantic import Field

from andon.config.bases import ButtonConfigBase, TopicFilter
from andon.payload import BadJson, excerpt, load_json
from devices.andon_button import BUTTON_ACTIONS, AndonActions, AndonButton
from devices.catalog import Driver
from devices.connections import Connections
from devices.links.mqtt import MqttLink, Settle, Subscription
from devices.links.mqtt_client import broker_settings, device_client_id


class MqttButtonConfig(ButtonConfigBase):
    """Andon presses arriving as JSON on an MQTT topic."""

    type: Literal["mqtt"] = "mqtt"
    topic: TopicFilter = Field(description="Topic filter to subscribe to (wildcards allowed).")
    station: str | None = Field(default=None, description="Station when the payload names none.")
    category: str | None = Field(default=None, description="Category when the payload names none.")
    qos: Literal[0, 1, 2] = Field(default=1, description="Subscription QoS.")
    host: str | None = Field(default=None, description="Broker host, if not the plant's mqtt.host.")
    port: int | None = Field(default=None, ge=1, le=65535, description="Broker port, if not the plant's mqtt.port.")
    client_id: str | None = Field(
        default=None, description="Client id (default: the plant's client id + '-buttons-' + topic)."
    )


MAX_NAME = 64  # the longest station or category the API takes

log = logging.getLogger(__name__)


class BadPress(ValueError):
    """A button message that does not say a usable action; ``reason`` is its short name (metrics)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def parse_press(payload: bytes, config: MqttButtonConfig) -> tuple[str, str, str]:
    """Return (action, station, category) from a payload, or raise BadPress saying why."""
    try:
        document = load_json(payload)
    except BadJson as exc:
        raise BadPress(exc.reason, f"payload {excerpt(payload)}: {exc}") from None
    if not isinstance(document, dict):
        raise BadPress("not_an_object", f"payload {excerpt(payload)} is not a JSON object")
    action = document.get("action", "raise")
    if not isinstance(action, str) or action not in BUTTON_ACTIONS:
        raise BadPress("bad_action", f"action {excerpt(action)} is not raise, acknowledge or resolve")
    found: dict[str, str] = {}
    for name, default in (("station", config.station), ("category", config.category)):
        value = document.get(name, default)
        if not isinstance(value, str) or not value:
            raise BadPress(f"no_{name}", f"no {name} in {excerpt(payload)} and none configured")
        if len(value) > MAX_NAME:
            raise BadPress(f"bad_{name}", f"{name} {excerpt(value)} is longer than {MAX_NAME} characters")
        found[name] = value
    return action, found["station"], found["category"]


class MqttAndonButton(AndonButton):
    """Subscribe to the button topic and turn each message into an andon action."""

    config: MqttButtonConfig

    def __init__(self, config: MqttButtonConfig, line: str, actions: AndonActions, connections: Connections) -> None:
        super().__init__(config, line, actions, connections)
        self.settings = broker_settings(connections.mqtt, config.host, config.port)
        self.client_id = config.client_id or device_client_id(self.settings, "buttons", config.topic)
        self.subscribed = threading.Event()
        self.link: MqttLink | None = None
        self._stopped: asyncio.Future[str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def describe(self) -> str:
        """Say which topic this button listens on."""
        return self.config.id or f"mqtt {self.config.topic}"

    def handle(self, payload: bytes) -> bool:
        """Perform what one message asks; count, log and drop a bad one. Return whether it was done.

        Total over any payload: nothing a message holds can raise out of here.
        """
        try:
            action, station, category = parse_press(payload, self.config)
        except BadPress as exc:
            self.reject(exc.reason, f"message on {self.config.topic}: {exc}")
            return False
        except Exception as exc:  # a payload no rule foresaw is still refused, never fatal
            self.reject("unreadable", f"message on {self.config.topic}: {type(exc).__name__}")
            return False
        self.faults.ok()
        return self.perform(action, station, category)

    def link_up(self) -> None:
        """Report the broker back (once per outage)."""
        self.faults.ok()

    def link_down(self, reason: str, final: bool) -> None:
        """Report the broker away (once per outage); a final refusal ends ``run``."""
        self.faults.fault(reason)
        if final:
            self._stop(reason)

    def _on_message(self, message: MQTTMessage, settle: Settle) -> None:
        try:
            self.handle(bytes(message.payload))
        except Exception:  # a failure here must not leave the press unacknowledged
            log.exception("%s: failed on a message", self.describe())
        finally:
            settle()

    def _stop(self, reason: str) -> None:
        stopped, loop = self._stopped, self._loop
        if loop is None or stopped is None:
            return

        def finish() -> None:
            if not stopped.done():
                stopped.set_result(reason)

        loop.call_soon_threadsafe(finish)

    async def run(self) -> None:
        """Listen until cancelled, or until the broker refuses us for good (logged)."""
        self._loop = asyncio.get_running_loop()
        self._stopped = stopped = self._loop.create_future()
        link = MqttLink.shared(self.connections.brokers, self.connections.clock, self.settings, self.client_id)
        self.link = link
        await link.serve(self, Subscription(self.config.topic, self.config.qos, self._on_message, self.subscribed.set),
                         until=stopped)


DRIVER = Driver("mqtt", MqttButtonConfig, MqttAndonButton)
