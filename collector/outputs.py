"""Join the MQTT outputs and the drivers' own counters to a running server (`andon run`/`serve`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from andon.services import Services
from andon.state import LineState
from collector.hardware import LineHardware
from collector.mqtt_out import MqttPublisher
from collector.sources import SourceRunner

log = logging.getLogger(__name__)


def attach_mqtt_outputs(services: Services) -> MqttPublisher | None:
    """Publish every visible state change and andon event to the plant's broker, if one is configured.

    The listeners join the live hub when the app starts; the caller closes the publisher on shutdown.
    """
    if services.config.mqtt is None:
        return None
    publisher = MqttPublisher(services.config.mqtt)

    def on_state(line_id: str, state: LineState) -> None:
        publisher.publish_state(line_id, state.model_dump_json().encode())

    def on_event(message: dict[str, Any]) -> None:
        if message.get("type") == "andon":
            call = message.get("call") or {}
            publisher.publish_andon(str(call.get("line", "")), message)
        elif message.get("type") == "stop":
            publisher.publish_stop(str(message.get("line", "")), message)
        elif message.get("type") in ("product", "work_order"):
            publisher.publish_event(str(message.get("line", "")), str(message["type"]), message)

    services.hub.state_listeners.append(on_state)
    services.hub.event_listeners.append(on_event)
    return publisher


class SourceRejects(Collector):
    """Expose what count sources refused themselves (not JSON, too long, bad id...) as a Prometheus counter."""

    def __init__(self, runner: SourceRunner) -> None:
        self.runner = runner

    def collect(self) -> Iterator[CounterMetricFamily]:
        """Read each driver's tally at scrape time."""
        family = CounterMetricFamily(
            "andon_source_payloads_rejected", "Payloads a count source could not read, by reason",
            labels=["line", "source", "reason"],
        )
        for (line_id, source_id), driver in list(self.runner.drivers.items()):
            rejected = getattr(driver, "rejected", None)
            if not rejected:
                continue
            if isinstance(rejected, int):  # a driver that keeps one tally (serial lines) has no reasons
                rejected = {"unreadable": rejected}
            for reason, n in sorted(rejected.items()):
                family.add_metric([line_id, source_id, str(reason)], float(n))
        yield family


def export_source_rejects(services: Services, runner: SourceRunner) -> None:
    """Register the sources' reject tallies on the plant's metrics registry (served on /metrics)."""
    services.plant.metrics.registry.register(SourceRejects(runner))


class ButtonRejects(Collector):
    """Expose the messages and lines andon buttons refused, by reason, as a Prometheus counter."""

    def __init__(self, hardware: LineHardware) -> None:
        self.hardware = hardware

    def collect(self) -> Iterator[CounterMetricFamily]:
        """Read each button's tally at scrape time."""
        family = CounterMetricFamily(
            "andon_button_messages_rejected", "Messages an andon button could not act on, by reason",
            labels=["line", "button", "reason"],
        )
        for button in list(self.hardware.buttons):
            for reason, n in sorted(button.rejected.items()):
                family.add_metric([button.line, button.describe(), str(reason)], float(n))
        yield family


def export_button_rejects(services: Services, hardware: LineHardware) -> None:
    """Register the andon buttons' reject tallies on the plant's metrics registry (served on /metrics)."""
    services.plant.metrics.registry.register(ButtonRejects(hardware))
