"""Counts from MQTT topics: QoS 1, a persistent session, and acknowledgement only after storage.

Every MQTT source of a broker shares one link (``devices/links/mqtt.py``, one client under the plant's
client id); the link routes each message to the sources whose topic filter matches and acknowledges
it once every one of them has stored or rejected it. What a payload says is read by
``devices/sources/mqtt_payload.py``.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Literal

from paho.mqtt.client import MQTTMessage
from pydantic import Field, model_validator

from andon.config.bases import MqttConfig, SourceConfigBase, TopicFilter
from andon.payload import RejectedReading
from devices.base import CountSource, ReadingSink
from devices.catalog import Driver
from devices.connections import Connections
from devices.links.mqtt import MqttLink, Settle, Subscription
from devices.links.mqtt_client import broker_settings
from devices.sources.mqtt_payload import parse_payload

log = logging.getLogger(__name__)


class MqttSourceConfig(SourceConfigBase):
    """Counts published on an MQTT topic, as a bare number or a field of a JSON object."""

    type: Literal["mqtt"] = "mqtt"
    topic: TopicFilter = Field(description="Topic filter to subscribe to; the wildcards + and # are allowed.")
    field: str | None = Field(
        None,
        description="JSON field holding the count (a.b reaches into objects); absent: bare number.",
    )
    time_field: str | None = Field(
        None,
        description="JSON field holding the event time: epoch seconds or ISO 8601 with offset.",
    )
    id_field: str | None = Field(None, description="JSON field holding the event id, for de-duplication.")
    reason_field: str | None = Field(
        None,
        description="JSON field holding a scrap reason code (a source of kind scrap); overrides scrap_reason.",
    )
    qos: Literal[0, 1, 2] = Field(1, description="Subscription QoS; 1 or 2 lets the broker keep counts.")
    host: str | None = Field(None, description="Broker host, if not the plant's mqtt.host.")
    port: int | None = Field(None, ge=1, le=65535, description="Broker port, if not the plant's mqtt.port.")

    @model_validator(mode="after")
    def _reason_of_scrap(self) -> MqttSourceConfig:
        if self.reason_field is not None and (self.kind != "scrap" or self.role != "count" or self.field is None):
            raise ValueError("reason_field belongs to a count source with kind scrap whose payload is JSON (field)")
        return self


class MqttSource(CountSource):
    """Subscribe to a topic and hand each count to the sink, acknowledging it once stored."""

    config: MqttSourceConfig

    def __init__(self, config: MqttSourceConfig, sink: ReadingSink, connections: Connections) -> None:
        super().__init__(config, sink, connections)
        self.connection: MqttLink | None = None
        self.retained: Counter[str] = Counter()  # retained messages by use: baseline, replay, refused
        self._read_any = False  # a message was read since the source started
        self.subscribed = threading.Event()  # set when the broker confirms the subscription (each connection)

    def broker_settings(self) -> MqttConfig:
        """Return the plant's broker settings with this source's host/port overrides applied."""
        return broker_settings(self.connections.mqtt, self.config.host, self.config.port)

    async def run(self) -> None:
        """Read until cancelled; the shared link reconnects by itself."""
        settings = self.broker_settings()
        link = MqttLink.shared(self.connections.brokers, self.connections.clock, settings, settings.client_id)
        self.connection = link
        await link.serve(self, Subscription(self.config.topic, self.config.qos, self.handle_message,
                                            on_subscribed=self.subscribed.set))

    def link_up(self) -> None:
        """Report the source online when the broker takes the connection."""
        self.sink.online()

    def link_down(self, reason: str, final: bool) -> None:
        """Report the source offline with the broker's reason, once per outage."""
        self.sink.offline(reason)

    def handle_message(self, message: MQTTMessage, stored: Settle) -> None:
        """Parse one message and pass it on; ``stored`` acknowledges it to the broker.

        Total over any payload: a message is stored and then acknowledged, or rejected (reason,
        log, metric) and acknowledged. Only a storage fault leaves it unacknowledged, for the broker
        to deliver again after the next reconnect.
        """
        try:
            if message.retain and not self._take_retained(message.topic):
                stored()
                return
            reading = parse_payload(bytes(message.payload), self.config, self.connections.clock.now())
        except RejectedReading as exc:
            self.reject(exc.reason, f"message on {message.topic}: {exc}")
            stored()  # acknowledged so the broker does not redeliver garbage forever
            return
        except Exception as exc:  # a payload no rule foresaw still ends: refused and acknowledged
            self.reject("unreadable", f"message on {message.topic}: {type(exc).__name__}")
            stored()
            return
        self._read_any = True
        if self.config.mode == "pulse" and reading.value <= 0:
            # A pulse is a 1 (a level going high); the 0 after it (the level going low) is no part, and a
            # negative value is no pulse at all.
            if reading.value < 0:
                self.reject("negative", f"message on {message.topic}: pulse {reading.value} is negative")
            stored()
            return
        self.deliver(reading.value, ts=reading.ts, event_id=reading.event_id, on_stored=stored, reason=reading.reason)

    def _take_retained(self, topic: str) -> bool:
        """Apply the retained rule: say whether a retained message is read (docs/mqtt.md).

        A retained message is the broker's copy of an old message, replayed on every subscribe (and some
        brokers mark queued messages so). Cumulative: the first message this source gets is read, as the
        counter's baseline (or the catch-up from the stored value); a replay after that is skipped.
        Increment and pulse: it cannot be told from a part already counted, so it is refused.
        Each use is counted (``retained``, on /metrics) and logged at WARNING the first time.
        """
        if self.config.mode != "cumulative":
            self.retained["refused"] += 1
            self.reject("retained", f"retained message on {topic}: an old message replayed, not a new count")
            return False
        use = "replay" if self._read_any else "baseline"
        self.retained[use] += 1
        first = sum(self.retained.values()) == 1
        log.log(logging.WARNING if first else logging.DEBUG,
                "%s: retained message on %s %s (a cumulative counter's retained value is read only as the "
                "first value, its baseline)", self.describe(), topic,
                "skipped: a replay" if use == "replay" else "read as the baseline")
        self._read_any = True
        return use == "baseline"

    def describe(self) -> str:
        """Say which broker and topic this source reads."""
        settings = self.broker_settings()
        return f"MQTT {settings.host}:{settings.port} {self.config.topic}"


DRIVER = Driver("mqtt", MqttSourceConfig, MqttSource)
