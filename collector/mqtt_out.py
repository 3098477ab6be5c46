"""Publish line state and andon events to the plant's MQTT broker, with a retained status topic."""

from __future__ import annotations

import json
import logging
import threading
from typing import TYPE_CHECKING, Any

from devices.sources.mqtt import new_client, refusal_is_final

if TYPE_CHECKING:
    from andon.config.bases import MqttConfig

log = logging.getLogger(__name__)


class MqttPublisher:
    """Push line state (retained) and andon events to ``<prefix>/...`` without blocking the caller.

    Connects in the background as soon as it is made; ``close()`` announces ``offline``.
    paho's network thread does the sending. While the broker is away, andon events queue in
    paho (QoS 1, sent on reconnect) and only the latest state of each line is kept and re-sent.
    """

    def __init__(self, config: MqttConfig) -> None:
        self.config = config
        self.prefix = config.topic_prefix.rstrip("/")
        self.status_topic = f"{self.prefix}/status"
        self.address = f"{config.host}:{config.port}"
        self._lock = threading.Lock()
        self._latest_state: dict[str, bytes] = {}
        self._connected = False
        self._fault: str | None = None
        self._closing = False
        self._client: Any = None
        self._start()

    @property
    def connected(self) -> bool:
        """Whether the broker has accepted the connection and it is up."""
        return self._connected

    @property
    def fault(self) -> str | None:
        """Why the broker is not reachable, or None while it is."""
        return self._fault

    def _start(self) -> None:
        try:
            client = new_client(self.config, f"{self.config.client_id}-out", persistent=False)
        except Exception as exc:  # a bad TLS setting must not stop the rest of the system
            self._fault = f"MQTT broker {self.address}: {exc}"
            log.error("%s; not publishing", self._fault)
            return
        client.will_set(self.status_topic, "offline", qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        self._client = client
        client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive)
        client.loop_start()

    def publish_state(self, line: str, state: dict[str, Any]) -> None:
        """Publish a line's state, retained, on ``<prefix>/<line>/state``."""
        payload = self._encode(state, f"state of line {line!r}")
        if payload is None:
            return
        with self._lock:
            self._latest_state[line] = payload
            connected = self._connected
        if connected:
            self._publish(f"{self.prefix}/{line}/state", payload, retain=True)

    def publish_stop(self, line: str, event: dict[str, Any]) -> None:
        """Publish a stop event (open, close, reason, split...) on ``<prefix>/<line>/stop``."""
        payload = self._encode(event, f"stop event of line {line!r}")
        if payload is not None:
            self._publish(f"{self.prefix}/{line}/stop", payload, retain=False)

    def publish_andon(self, line: str, event: dict[str, Any]) -> None:
        """Publish an andon event (raised, escalated, resolved...) on ``<prefix>/<line>/andon``."""
        payload = self._encode(event, f"andon event of line {line!r}")
        if payload is not None:
            self._publish(f"{self.prefix}/{line}/andon", payload, retain=False)

    def close(self, timeout: float = 2.0) -> None:
        """Announce ``offline`` (retained) and disconnect."""
        client = self._client
        if client is None:
            return
        with self._lock:
            self._closing = True
            connected = self._connected
        if connected:
            info = client.publish(self.status_topic, "offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError) as exc:
                log.warning("MQTT broker %s: could not announce offline: %s", self.address, exc)
        client.disconnect()
        client.loop_stop()
        self._client = None

    def _encode(self, document: dict[str, Any], what: str) -> bytes | None:
        try:
            return json.dumps(document, separators=(",", ":")).encode()
        except (TypeError, ValueError) as exc:
            log.error("cannot publish the %s as JSON: %s", what, exc)
            return None

    def _publish(self, topic: str, payload: bytes, *, retain: bool) -> None:
        client = self._client
        if client is None:
            log.debug("MQTT publisher closed or not configured; %s dropped", topic)
            return
        info = client.publish(topic, payload, qos=1, retain=retain)
        if info.rc not in (0, 4):  # 4 is "no connection": paho keeps it and sends on reconnect
            log.error("MQTT publish on %s failed with code %s", topic, info.rc)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            name = reason.getName()
            message = f"MQTT broker {self.address} refused the publisher: {name}"
            if refusal_is_final(name):
                with self._lock:
                    self._closing = True
                client.disconnect()
                self._fault = message
                log.error("%s; not retrying until the configuration is fixed", message)
            else:
                self._went_offline(message)
            return
        with self._lock:
            was_down = self._fault is not None
            self._connected = True
            self._fault = None
            states = dict(self._latest_state)
        if was_down:
            log.info("MQTT broker %s reachable again; publishing", self.address)
        client.publish(self.status_topic, "online", qos=1, retain=True)
        for line, payload in states.items():
            client.publish(f"{self.prefix}/{line}/state", payload, qos=1, retain=True)

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        self._went_offline(f"MQTT broker {self.address} unreachable")

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        with self._lock:
            self._connected = False
            closing = self._closing
        if not closing:
            self._went_offline(f"MQTT broker {self.address} unreachable")

    def _went_offline(self, reason: str) -> None:
        with self._lock:
            self._connected = False
            repeat = self._fault is not None
            self._fault = reason
        if repeat:
            log.debug("%s (still)", reason)
        else:
            log.error("%s; publishing resumes on reconnect", reason)
