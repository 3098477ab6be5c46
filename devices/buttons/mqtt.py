"""Andon buttons that publish on MQTT: ``{"station": .., "category": .., "action": ..}``.

``action`` is ``raise`` (the default when absent), ``acknowledge`` or ``resolve``; ``station``
and ``category`` default to the ones configured here. QoS 1 with a persistent session, so the
broker keeps presses while this edge restarts. Broker settings come from the plant's ``mqtt``
section (``context.shared["mqtt"]``), with optional host/port overrides.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from typing import Any, Literal

from pydantic import Field

from andon.config.bases import ButtonConfigBase
from andon.payload import BadJson, excerpt, load_json
from devices.andon_button import BUTTON_ACTIONS, AndonActions, AndonButton
from devices.catalog import Driver
from devices.connections import Connections
from devices.sources.mqtt import broker_settings, new_client, refusal_is_final


class MqttButtonConfig(ButtonConfigBase):
    """Andon presses arriving as JSON on an MQTT topic."""

    type: Literal["mqtt"] = "mqtt"
    topic: str = Field(description="Topic filter to subscribe to (wildcards allowed).")
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
        raise BadPress("not a JSON object", f"payload {excerpt(payload)} is not a JSON object")
    action = document.get("action", "raise")
    if not isinstance(action, str) or action not in BUTTON_ACTIONS:
        raise BadPress("bad action", f"action {excerpt(action)} is not raise, acknowledge or resolve")
    found: dict[str, str] = {}
    for name, default in (("station", config.station), ("category", config.category)):
        value = document.get(name, default)
        if not isinstance(value, str) or not value:
            raise BadPress(f"no {name}", f"no {name} in {excerpt(payload)} and none configured")
        if len(value) > MAX_NAME:
            raise BadPress(f"bad {name}", f"{name} {excerpt(value)} is longer than {MAX_NAME} characters")
        found[name] = value
    return action, found["station"], found["category"]


class MqttAndonButton(AndonButton):
    """Subscribe to the button topic and turn each message into an andon action."""

    config: MqttButtonConfig

    def __init__(self, config: MqttButtonConfig, line: str, actions: AndonActions, connections: Connections) -> None:
        super().__init__(config, line, actions, connections)
        self.settings = broker_settings(connections, config.host, config.port)
        self.subscribed = threading.Event()
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

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            if refusal_is_final(reason.getName()):
                self._stop(f"broker {self.settings.host}:{self.settings.port} refused: {reason}")
            return
        client.subscribe(self.config.topic, qos=self.config.qos)

    def _on_subscribe(self, client: Any, userdata: Any, mid: Any, codes: Any, props: Any) -> None:
        self.subscribed.set()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        try:
            self.handle(message.payload)
        except Exception:  # an escaping exception would end paho's network thread (and the button)
            log.exception("%s: failed on a message", self.describe())

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
        self._stopped = self._loop.create_future()
        safe_topic = re.sub(r"[^A-Za-z0-9_-]+", "-", self.config.topic).strip("-")
        client_id = self.config.client_id or f"{self.settings.client_id}-buttons-{safe_topic}"
        client = new_client(self.settings, client_id, persistent=True)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.connect_async(self.settings.host, self.settings.port, keepalive=self.settings.keepalive)
        client.loop_start()
        try:
            reason = await self._stopped
            self.faults.fault(reason)
        finally:
            client.disconnect()
            client.loop_stop()


DRIVER = Driver("mqtt", MqttButtonConfig, MqttAndonButton)
