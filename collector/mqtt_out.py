"""Publish line state and andon events to the plant's MQTT broker, with a retained status topic."""

from __future__ import annotations

import json
import logging
from typing import Any

from andon.clock import Clock, SystemClock
from andon.config.bases import MqttConfig
from devices.links.mqtt import MqttLink
from devices.links.mqtt_client import Will
from devices.links.pool import LinkPool

log = logging.getLogger(__name__)


class MqttPublisher:
    """Push line state (retained) and andon events to ``<prefix>/...`` without blocking the caller.

    Connects in the background as soon as it is made (its last will is ``<prefix>/status`` = ``offline``);
    ``close()`` announces ``offline``. Given the server's ``brokers`` (``andon run``), it shares the connection
    its MQTT count sources read on (one client id, ``mqtt.client_id``), so a count's state goes back on the
    connection that brought the count; else its link is its own (client id ``<client_id>-out``). While the
    broker is away, andon events queue in paho (QoS 1, sent on reconnect) and only the latest state of each
    line is kept and re-sent.
    """

    def __init__(
        self, config: MqttConfig, brokers: LinkPool[tuple[str, int, str], MqttLink] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.prefix = config.topic_prefix.rstrip("/")
        self.status_topic = f"{self.prefix}/status"
        self._latest_state: dict[str, bytes] = {}
        will = Will(self.status_topic, "offline", qos=1, retain=True)
        self._state_topics: dict[str, str] = {}
        if brokers is not None:
            self.link = MqttLink.shared(brokers, clock or SystemClock(), config, config.client_id, will=will)
        else:
            self.link = MqttLink(config, f"{config.client_id}-out", persistent=False, will=will)
        self.link.attach(self)

    @property
    def connected(self) -> bool:
        """Whether the broker has accepted the connection and it is up."""
        return self.link.connected

    @property
    def fault(self) -> str | None:
        """Why the broker is not reachable, or None while it is."""
        return self.link.fault

    def link_up(self) -> None:
        """Announce ``online`` and publish the latest state of every line again.

        At QoS 1, whatever ``state_qos`` the live updates go at: a subscriber with a persistent session that
        is still reconnecting gets this catch-up from the broker's queue (a QoS 0 message would pass it by,
        and its subscription, kept by the session, brings no retained copy)."""
        self.link.publish(self.status_topic, "online", qos=1, retain=True)
        for line, payload in dict(self._latest_state).items():
            self.link.publish(f"{self.prefix}/{line}/state", payload, qos=1, retain=True)

    def link_down(self, reason: str, final: bool) -> None:
        """Keep publishing into paho's queue (the link logged the outage); states wait for ``link_up``."""

    def publish_state(self, line: str, state: dict[str, Any] | bytes) -> None:
        """Publish a line's state (a document, or its JSON), retained, on ``<prefix>/<line>/state``.

        At the broker settings' ``state_qos`` (1 by default). A QoS 1 subscriber then acknowledges each
        state, and that traffic back keeps the broker's small sends from waiting on delayed TCP
        acknowledgements (Nagle's rule at a default Mosquitto: at QoS 0 states reached a subscriber
        up to 40 ms late, p99 28 ms at 1,000 states a second, against 5-9 ms at QoS 1).
        """
        payload = state if isinstance(state, bytes) else self._encode(state, f"state of line {line!r}")
        if payload is None:
            return
        self._latest_state[line] = payload
        if self.link.connected:
            topic = self._state_topics.get(line)
            if topic is None:
                topic = self._state_topics[line] = f"{self.prefix}/{line}/state"
            if self.config.state_qos == 1:
                # Resent by link_up after a reconnect, so a lean publish (no copy kept for the next connection).
                self._check(topic, self.link.publish_lean(topic, payload, retain=True))
            else:
                self._publish(topic, payload, retain=True, qos=self.config.state_qos)

    def publish_stop(self, line: str, event: dict[str, Any]) -> None:
        """Publish a stop event (open, close, reason, split...) on ``<prefix>/<line>/stop``."""
        self.publish_event(line, "stop", event)

    def publish_event(self, line: str, kind: str, event: dict[str, Any]) -> None:
        """Publish an event of a line (stop, product, work_order...) on ``<prefix>/<line>/<kind>``."""
        payload = self._encode(event, f"{kind} event of line {line!r}")
        if payload is not None:
            self._publish(f"{self.prefix}/{line}/{kind}", payload, retain=False)

    def publish_andon(self, line: str, event: dict[str, Any]) -> None:
        """Publish an andon event (raised, escalated, resolved...) on ``<prefix>/<line>/andon``."""
        payload = self._encode(event, f"andon event of line {line!r}")
        if payload is not None:
            self._publish(f"{self.prefix}/{line}/andon", payload, retain=False)

    def close(self, timeout: float = 2.0) -> None:
        """Announce ``offline`` (retained) and disconnect."""
        self.link.goodbye(self, timeout=timeout)  # the link's will: offline, retained

    def _encode(self, document: dict[str, Any], what: str) -> bytes | None:
        try:
            return json.dumps(document, separators=(",", ":")).encode()
        except (TypeError, ValueError) as exc:
            log.error("cannot publish the %s as JSON: %s", what, exc)
            return None

    def _publish(self, topic: str, payload: bytes, *, retain: bool, qos: int = 1) -> None:
        self._check(topic, self.link.publish(topic, payload, qos=qos, retain=retain))

    def _check(self, topic: str, info: Any) -> None:
        if info is None:
            log.debug("MQTT publisher closed or not configured; %s dropped", topic)
        elif info.rc not in (0, 4):  # 4 is "no connection": paho keeps it and sends on reconnect
            log.error("MQTT publish on %s failed with code %s", topic, info.rc)
