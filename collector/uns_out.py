"""Publish every line into a Unified Namespace: ``<enterprise>/<site>/<area>/<line>/andon/...`` topics.

Each figure of a line's state has its own retained topic holding ``{"value": ..., "timestamp_ms": ...}``
(published when it changes, and all of them again on every connection); the whole state is retained
on ``.../andon/state``; andon events go to ``.../andon/events`` (QoS 1, not retained). The link's last
will marks ``<enterprise>/<site>/andon/status`` ``offline``.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from andon.clock import Clock
from andon.config.bases import MqttConfig
from andon.config.outputs import UnsOutputConfig
from andon.state import LineState
from devices.links.mqtt import MqttLink
from devices.links.mqtt_client import Will

log = logging.getLogger(__name__)

FIGURES = (
    "condition", "reason", "plan_to_date", "actual_to_date", "scrap_to_date", "delta", "shift_target",
    "takt_seconds", "andon", "last_count_at",
)


def uns_figures(state: LineState) -> dict[str, Any]:
    """Return the figures of a line's state that get a topic each, by topic name."""
    figures: dict[str, Any] = {name: getattr(state, name) for name in FIGURES}
    figures["shift"] = state.shift.id if state.shift else None
    figures["open_andons"] = len(state.open_andons)
    current = state.current_interval
    figures["current_interval/planned"] = current.planned if current else None
    figures["current_interval/actual"] = current.actual if current else None
    for source in state.sources:
        figures[f"sources/{source.id}/online"] = source.online
        figures[f"sources/{source.id}/status"] = source.status
    return figures


class UnsPublisher:
    """Publish line figures as retained UNS topics on the plant's broker, on its own link."""

    def __init__(self, mqtt: MqttConfig, config: UnsOutputConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.status_topic = f"{config.enterprise}/{config.site}/andon/status"
        self._lock = threading.Lock()
        self._published: dict[str, dict[str, Any]] = {}  # line -> figures the broker holds
        self._latest: dict[str, tuple[dict[str, Any], bytes]] = {}
        will = Will(self.status_topic, "offline", qos=1, retain=True)
        self.link = MqttLink(mqtt, f"{mqtt.client_id}-uns", persistent=False, will=will, clock=clock)
        self.link.attach(self)

    @property
    def connected(self) -> bool:
        """Whether the broker has accepted the connection and it is up."""
        return self.link.connected

    def base(self, line: str) -> str:
        """Return the topic under which a line's figures are published."""
        c = self.config
        return f"{c.enterprise}/{c.site}/{c.areas.get(line, c.area)}/{line}/andon"

    def link_up(self) -> None:
        """Announce ``online`` and publish every figure of every known line again."""
        self.link.publish(self.status_topic, "online", qos=1, retain=True)
        with self._lock:
            self._published.clear()
            latest = dict(self._latest)
        for line, (figures, state) in latest.items():
            self._publish(line, figures, state)

    def link_down(self, reason: str, final: bool) -> None:
        """Nothing to do: the next ``link_up`` publishes everything again."""

    def publish_state(self, line: str, state: LineState) -> None:
        """Publish the figures of a line's state that changed, and the state, retained."""
        figures = uns_figures(state)
        document = state.encoded()
        with self._lock:
            self._latest[line] = (figures, document)
        if self.link.connected:
            self._publish(line, figures, document)

    def publish_andon(self, line: str, event: dict[str, Any]) -> None:
        """Publish an andon event on ``.../andon/events`` (QoS 1, not retained)."""
        self.link.publish(f"{self.base(line)}/events", json.dumps(event, separators=(",", ":")), qos=1)

    def _publish(self, line: str, figures: dict[str, Any], document: bytes) -> None:
        base = self.base(line)
        stamp = int(self.clock.now() * 1000)
        with self._lock:
            before = self._published.setdefault(line, {})
            changed = {k: v for k, v in figures.items() if k not in before or before[k] != v}
            before.update(changed)
        for name, value in changed.items():
            payload = json.dumps({"value": value, "timestamp_ms": stamp}, separators=(",", ":"))
            self.link.publish(f"{base}/{name}", payload, qos=0, retain=True)
        self.link.publish(f"{base}/state", document, qos=0, retain=True)

    def close(self, timeout: float = 2.0) -> None:
        """Announce ``offline`` (retained) and disconnect."""
        self.link.goodbye(self, timeout=timeout)  # the link's will: offline, retained
