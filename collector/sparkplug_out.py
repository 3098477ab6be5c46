"""Publish the plant's lines as a Sparkplug B edge node, so Ignition or any Sparkplug host sees them as devices.

The edge node ``<group>/<edge node>`` has one device per line (its id). On every connection it
publishes NBIRTH (``bdSeq``, ``Node Control/Rebirth``) and, as each line's state arrives, a DBIRTH
with every metric and its alias; after that DDATA carries only the metrics that changed. Its last
will is NDEATH with the same ``bdSeq``; ``close()`` publishes NDEATH before it disconnects. An NCMD
``Node Control/Rebirth`` makes it publish every birth again. Sequence numbers run 0-255 from NBIRTH.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from paho.mqtt.client import MQTTMessage

from andon.clock import Clock
from andon.config.bases import MqttConfig
from andon.config.outputs import SparkplugOutputConfig
from andon.state import LineState
from devices.links.mqtt import MqttLink, Settle, Subscription
from devices.links.mqtt_client import Will
from devices.sources.sparkplug_payload import (
    BD_SEQ,
    BOOLEAN,
    DOUBLE,
    INT64,
    NAMESPACE,
    REBIRTH,
    STRING,
    payload_class,
    set_value,
)

log = logging.getLogger(__name__)

Metrics = dict[str, tuple[int, Any]]  # metric name -> (datatype, value)
ALIASES_PER_LINE = 1000  # a line's aliases are index * 1000 + n, unique across the edge node


def line_metrics(state: LineState) -> Metrics:
    """Return the Sparkplug metrics of a line's state: figures, condition, andon signal, interval, sources."""
    current = state.current_interval
    metrics: Metrics = {
        "condition": (STRING, state.condition),
        "reason": (STRING, state.reason),
        "shift": (STRING, state.shift.id if state.shift else None),
        "takt_seconds": (DOUBLE, state.takt_seconds),
        "plan_to_date": (INT64, state.plan_to_date),
        "actual_to_date": (INT64, state.actual_to_date),
        "scrap_to_date": (INT64, state.scrap_to_date),
        "delta": (INT64, state.delta),
        "shift_target": (INT64, state.shift_target),
        "current_interval/planned": (INT64, current.planned if current else None),
        "current_interval/planned_so_far": (INT64, current.planned_so_far if current else None),
        "current_interval/actual": (INT64, current.actual if current else None),
        "andon": (STRING, state.andon),
        "open_andons": (INT64, len(state.open_andons)),
    }
    for source in state.sources:
        metrics[f"sources/{source.id}/online"] = (BOOLEAN, source.online)
        metrics[f"sources/{source.id}/stale"] = (BOOLEAN, source.stale)
        metrics[f"sources/{source.id}/status"] = (STRING, source.status)
    return metrics


class SparkplugEdgeNode:
    """The plant as one Sparkplug B edge node on its own MQTT link (its will is the NDEATH)."""

    def __init__(self, mqtt: MqttConfig, config: SparkplugOutputConfig, line_ids: list[str], clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.line_ids = list(line_ids)
        self.bd_seq = 0  # one session of this process: the NDEATH will and every NBIRTH carry it
        self.node_topic = f"{NAMESPACE}/{config.group}/{{}}/{config.edge_node}"
        self._lock = threading.RLock()  # one birth or data message at a time, so seq numbers stay in order
        self._seq = 0
        self._born: dict[str, Metrics] = {}  # line -> metrics last published since its DBIRTH
        self._latest: dict[str, Metrics] = {}
        self._aliases: dict[str, dict[str, int]] = {}
        will = Will(self._topic("NDEATH"), self._death(), qos=1, retain=False)
        self.link = MqttLink(mqtt, f"{mqtt.client_id}-sparkplug", persistent=False, will=will, clock=clock)
        self.link.subscribe(Subscription(self._topic("NCMD"), 1, self._on_command))
        self.link.attach(self)

    @property
    def connected(self) -> bool:
        """Whether the broker has accepted the connection and it is up."""
        return self.link.connected

    def _topic(self, kind: str, device: str | None = None) -> str:
        topic = self.node_topic.format(kind)
        return f"{topic}/{device}" if device is not None else topic

    def _death(self) -> bytes:
        payload = payload_class()(timestamp=int(self.clock.now() * 1000))
        set_value(payload.metrics.add(name=BD_SEQ), INT64, self.bd_seq)
        return bytes(payload.SerializeToString())

    def link_up(self) -> None:
        """Publish NBIRTH and the births of every line whose state is known."""
        self.rebirth()

    def link_down(self, reason: str, final: bool) -> None:
        """Forget what was born: every birth is published again on the next connection."""
        with self._lock:
            self._born.clear()

    def rebirth(self) -> None:
        """Publish NBIRTH (sequence 0) and a DBIRTH for every line with a known state."""
        with self._lock:
            self._born.clear()
            self._seq = 0
            payload = self._payload(seq=0)
            set_value(payload.metrics.add(name=BD_SEQ), INT64, self.bd_seq)
            set_value(payload.metrics.add(name=REBIRTH), BOOLEAN, False)
            self._send(self._topic("NBIRTH"), payload)
            for line, metrics in self._latest.items():
                self._birth(line, metrics)

    def publish_state(self, line: str, state: LineState) -> None:
        """Publish a line's state: its DBIRTH the first time, then DDATA with the changed metrics."""
        metrics = line_metrics(state)
        with self._lock:
            self._latest[line] = metrics
            if not self.link.connected:
                return
            born = self._born.get(line)
            if born is None or set(born) != set(metrics):  # a new line, or its sources changed
                self._birth(line, metrics)
                return
            changed = {name: value for name, value in metrics.items() if born.get(name) != value}
            if changed:
                self._data(line, changed)

    def publish_andon(self, line: str, event: dict[str, Any]) -> None:
        """Publish an andon event (raised, acknowledged, escalated, resolved) as the line's andon_event metric."""
        with self._lock:
            if line not in self._born or not self.link.connected:
                return
            self._data(line, {"andon_event": (STRING, json.dumps(event, separators=(",", ":")))})

    def _birth(self, line: str, metrics: Metrics) -> None:
        index = self.line_ids.index(line) + 1 if line in self.line_ids else len(self.line_ids) + 1
        names = [*metrics, "andon_event"]
        self._aliases[line] = {name: index * ALIASES_PER_LINE + n for n, name in enumerate(names, start=1)}
        payload = self._payload()
        for name in names:
            datatype, value = metrics.get(name, (STRING, None))
            metric = payload.metrics.add(name=name, alias=self._aliases[line][name])
            set_value(metric, datatype, value)
        self._send(self._topic("DBIRTH", line), payload)
        self._born[line] = dict(metrics)

    def _data(self, line: str, changed: Metrics) -> None:
        payload = self._payload()
        for name, (datatype, value) in changed.items():
            set_value(payload.metrics.add(alias=self._aliases[line][name]), datatype, value)
        self._send(self._topic("DDATA", line), payload)
        self._born[line].update({k: v for k, v in changed.items() if k in self._born[line]})

    def _payload(self, seq: int | None = None) -> Any:
        if seq is None:
            self._seq = (self._seq + 1) % 256
            seq = self._seq
        return payload_class()(timestamp=int(self.clock.now() * 1000), seq=seq)

    def _send(self, topic: str, payload: Any) -> None:
        info = self.link.publish(topic, payload.SerializeToString(), qos=0, retain=False)
        if info is not None and info.rc not in (0, 4):
            log.error("Sparkplug publish on %s failed with code %s", topic, info.rc)

    def _on_command(self, message: MQTTMessage, settle: Settle) -> None:
        """Publish every birth again when a host asks for it (NCMD Node Control/Rebirth = true)."""
        settle()
        try:
            payload = payload_class().FromString(bytes(message.payload))
        except Exception as exc:
            log.warning("Sparkplug: unreadable NCMD on %s refused: %s", message.topic, exc)
            return
        if any(m.name == REBIRTH and m.boolean_value for m in payload.metrics):
            log.info("Sparkplug: rebirth requested on %s", message.topic)
            self.rebirth()

    def close(self, timeout: float = 2.0) -> None:
        """Publish NDEATH (a clean goodbye sends no will) and disconnect."""
        self.link.goodbye(self, Will(self._topic("NDEATH"), self._death(), qos=1, retain=False), timeout)
