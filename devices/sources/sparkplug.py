"""Counts from a Sparkplug B edge node (Ignition, UMH and gateways): one metric of a node or of a device.

The source reads every message of its edge node (``spBv1.0/<group>/+/<edge node>/#``) on the plant's
one MQTT link, so it sees the whole sequence: births give the metric's alias, data messages its values,
deaths take the source offline with the reason. A data message for an alias no birth named, or a gap
in the sequence numbers, makes it ask the node for its births again (NCMD ``Node Control/Rebirth``, at
most every ``rebirth_min_seconds``). Values go through the plant's normaliser like any other reading.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, ClassVar, Literal

from paho.mqtt.client import MQTTMessage
from pydantic import Field

from andon.config.bases import MqttConfig, SourceConfigBase
from andon.extras import PROTOBUF
from devices.base import CountSource, ReadingSink, RisingEdge
from devices.catalog import Driver
from devices.connections import Connections
from devices.links.mqtt import MqttLink, Settle, Subscription
from devices.links.mqtt_client import broker_settings
from devices.sources.sparkplug_payload import BD_SEQ, NAMESPACE, Topic, metric_value, payload_class, rebirth_request

log = logging.getLogger(__name__)

_ID = r"^[^/+#]+$"


class SparkplugSourceConfig(SourceConfigBase):
    """A counter (or part-done flag) published as a Sparkplug B metric by an edge node or one of its devices."""

    reference_notes: ClassVar[str] = r"""
**Addressing.** A Sparkplug B metric is named by its group id, edge node id, device id (absent for a
metric of the edge node itself) and metric name, as the edge node's birth certificate lists it
(`Counters/Good`, `Line 1/Part Count`). Data messages may carry only the metric's alias: the birth
maps it to the name. A counter that counts up is `mode: cumulative`; a flag that is true while a
part is done is `mode: pulse` (each change to true is one part).

```yaml
- {type: sparkplug, id: filler, group: Plant1, edge_node: Line1-PLC, device: Filler,
   metric: Counters/Good, mode: cumulative}
```
"""

    type: Literal["sparkplug"] = "sparkplug"
    group: str = Field(..., pattern=_ID, description="Sparkplug group id.")
    edge_node: str = Field(..., pattern=_ID, description="Edge node id.")
    device: str | None = Field(None, pattern=_ID, description="Device id; absent: a metric of the edge node itself.")
    metric: str = Field(..., min_length=1, description="Metric name, as the birth certificate lists it.")
    mode: Literal["cumulative", "increment", "pulse"] = Field(
        "cumulative",
        description="cumulative: the metric is a counter; increment: each data value adds n; "
        "pulse: each change of a boolean to true adds 1.",
    )
    rebirth: bool = Field(True, description="Ask the edge node for its births on an unknown alias or a sequence gap.")
    rebirth_min_seconds: float = Field(5.0, gt=0, description="Ask for births at most this often.")
    qos: Literal[0, 1] = Field(1, description="Subscription QoS (Sparkplug edge nodes publish at QoS 0 or 1).")
    host: str | None = Field(None, description="Broker host, if not the plant's mqtt.host.")
    port: int | None = Field(None, ge=1, le=65535, description="Broker port, if not the plant's mqtt.port.")


class SparkplugSource(CountSource):
    """Follow one edge node's births, data and deaths, and hand one metric's values to the sink."""

    libraries = (PROTOBUF,)

    config: SparkplugSourceConfig

    def __init__(self, config: SparkplugSourceConfig, sink: ReadingSink, connections: Connections) -> None:
        super().__init__(config, sink, connections)
        self.connection: MqttLink | None = None
        self.rebirths_requested = 0
        self.seq: int | None = None  # the last sequence number of the edge node, None before a birth
        self.bd_seq: int | None = None  # the birth/death sequence of the node's current birth
        self.alias: int | None = None  # our metric's alias, from the birth that names it
        self.born = False  # the node (and our device) published a birth we have seen
        self._flag = RisingEdge()
        self._last_rebirth: float | None = None
        self.subscribed = threading.Event()  # set when the broker confirms the subscription

    def broker_settings(self) -> MqttConfig:
        """Return the plant's broker settings with this source's host/port overrides applied."""
        return broker_settings(self.connections.mqtt, self.config.host, self.config.port)

    @property
    def topic_filter(self) -> str:
        """Return the filter that reads every message of the edge node and its devices."""
        return f"{NAMESPACE}/{self.config.group}/+/{self.config.edge_node}/#"

    async def run(self) -> None:
        """Read until cancelled; the shared link reconnects by itself."""
        payload_class()  # fails here, once, when protobuf is missing
        settings = self.broker_settings()
        link = MqttLink.shared(self.connections.brokers, self.connections.clock, settings, settings.client_id)
        self.connection = link
        subscription = Subscription(
            self.topic_filter, self.config.qos, self.handle_message, on_subscribed=self.subscribed.set
        )
        await link.serve(self, subscription)

    def link_up(self) -> None:
        """Report online once a birth was seen (the broker alone says nothing of the edge node)."""
        if self.born:
            self.sink.online()

    def link_down(self, reason: str, final: bool) -> None:
        """Report the source offline with the broker's reason, once per outage."""
        self.sink.offline(reason)

    def handle_message(self, message: MQTTMessage, stored: Settle) -> None:
        """Read one message of the edge node; ``stored`` acknowledges it once its readings are stored."""
        topic = Topic.parse(message.topic)
        if topic is None or topic.kind in ("NCMD", "DCMD"):
            stored()  # commands (our own rebirth requests among them) carry no counts
            return
        try:
            payload = payload_class().FromString(bytes(message.payload))
        except Exception as exc:  # protobuf's DecodeError, or worse: refused, acknowledged
            self.reject("not_sparkplug", f"message on {message.topic}: {type(exc).__name__}: {exc}")
            stored()
            return
        try:
            self._handle(topic, payload, stored)
        except Exception as exc:  # a payload no rule foresaw still ends: refused and acknowledged
            log.exception("%s: failed on a message from %s", self.describe(), message.topic)
            self.reject("unreadable", f"message on {message.topic}: {type(exc).__name__}")
            stored()

    def _handle(self, topic: Topic, payload: Any, stored: Settle) -> None:
        ours = topic.device == self.config.device
        if topic.kind == "NBIRTH":
            self._node_birth(payload)
        elif topic.kind == "NDEATH":
            self._node_death(payload)
            stored()
            return
        elif not self._in_sequence(payload):
            self.request_rebirth(f"sequence gap before {topic}")
        if not ours:
            stored()
            return
        if topic.kind in ("DBIRTH", "NBIRTH"):
            self._learn_alias(payload)
            if topic.kind == "DBIRTH" or self.config.device is None:
                self.born = True
                self.sink.online()
        elif topic.kind == "DDEATH":
            self._died(f"Sparkplug device {topic.group}/{topic.edge_node}/{topic.device} died (DDEATH)")
            stored()
            return
        elif topic.kind not in ("NDATA", "DDATA"):
            stored()
            return
        self._deliver_metric(topic, payload, stored)

    def _node_birth(self, payload: Any) -> None:
        self.seq = int(payload.seq) if payload.HasField("seq") else None
        self.bd_seq = None
        for metric in payload.metrics:
            if metric.name == BD_SEQ:
                value = metric_value(metric)
                self.bd_seq = int(value) if isinstance(value, int) else None
        if self.config.device is not None:
            self.born = False  # the device's birth follows the node's
            self.alias = None

    def _node_death(self, payload: Any) -> None:
        bd_seq = next((metric_value(m) for m in payload.metrics if m.name == BD_SEQ), None)
        if self.bd_seq is not None and bd_seq is not None and bd_seq != self.bd_seq:
            log.debug("%s: NDEATH of an earlier session (bdSeq %s, current %s) ignored", self.describe(),
                      bd_seq, self.bd_seq)
            return
        c = self.config
        self.seq = None
        self._died(f"Sparkplug edge node {c.group}/{c.edge_node} died (NDEATH)")

    def _died(self, reason: str) -> None:
        self.born = False
        self.alias = None
        self._flag.forget()
        self.sink.offline(reason)

    def _in_sequence(self, payload: Any) -> bool:
        """Check a non-birth message's sequence number against the last one (0-255, wrapping)."""
        if not payload.HasField("seq"):
            return True
        seq = int(payload.seq)
        expected = None if self.seq is None else (self.seq + 1) % 256
        self.seq = seq
        return expected is None or seq == expected

    def _learn_alias(self, payload: Any) -> None:
        for metric in payload.metrics:
            if metric.name == self.config.metric:
                self.alias = int(metric.alias) if metric.HasField("alias") else None

    def _deliver_metric(self, topic: Topic, payload: Any, stored: Settle) -> None:
        """Hand our metric's values in this message to the sink; acknowledge once every one is settled."""
        birth = topic.kind.endswith("BIRTH")
        values: list[tuple[Any, float]] = []
        unknown_alias = False
        now = self.connections.clock.now()
        for metric in payload.metrics:
            if metric.HasField("name") and metric.name:
                if metric.name != self.config.metric:
                    continue
            elif not metric.HasField("alias"):
                continue
            elif self.alias is None or metric.alias != self.alias:
                unknown_alias = unknown_alias or self.alias is None
                continue
            value = metric_value(metric)
            if value is None:
                continue
            stamp = metric.timestamp if metric.HasField("timestamp") else payload.timestamp
            values.append((value, stamp / 1000.0 if stamp else now))
        if unknown_alias and not values:
            self.request_rebirth(f"{topic} names metrics by alias only and no birth was seen")
        if values and not self.born:
            self.born = True
            self.sink.online()
        readings = [(v, ts) for v, ts in values if not (birth and self.config.mode == "increment")]
        self._hand_over(readings, stored)

    def _hand_over(self, readings: list[tuple[Any, float]], stored: Settle) -> None:
        if self.config.mode == "pulse":
            readings = [(1, ts) for value, ts in readings if self._flag.rose(bool(value))]
        if not readings:
            stored()
            return
        settle = _after_all(len(readings), stored)
        for value, ts in readings:
            if isinstance(value, bool):
                value = int(value)
            self.deliver(value, ts=ts, on_stored=settle)

    def request_rebirth(self, why: str) -> None:
        """Publish NCMD ``Node Control/Rebirth`` to the edge node (at most every rebirth_min_seconds)."""
        c = self.config
        now = self.connections.clock.now()
        if not c.rebirth or self.connection is None:
            return
        if self._last_rebirth is not None and now - self._last_rebirth < c.rebirth_min_seconds:
            return
        self._last_rebirth = now
        self.rebirths_requested += 1
        log.info("%s: %s; asking the edge node for its births", self.describe(), why)
        topic = f"{NAMESPACE}/{c.group}/NCMD/{c.edge_node}"
        self.connection.publish(topic, rebirth_request(int(now * 1000)), qos=0, retain=False)

    def describe(self) -> str:
        """Say which broker and metric this source reads."""
        c = self.config
        settings = self.broker_settings()
        device = f"/{c.device}" if c.device is not None else ""
        return f"sparkplug {settings.host}:{settings.port} {c.group}/{c.edge_node}{device} {c.metric}"


def _after_all(count: int, settle: Settle) -> Callable[[], None]:
    """Return a callback that settles the message once it has been called ``count`` times."""
    left = [count]
    lock = threading.Lock()

    def one_done() -> None:
        with lock:
            left[0] -= 1
            done = left[0] == 0
        if done:
            settle()

    return one_done


DRIVER = Driver("sparkplug", SparkplugSourceConfig, SparkplugSource)
