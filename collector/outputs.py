"""Join the MQTT outputs and the drivers' own counters to a running server (`andon run`/`serve`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from andon.extras import PROTOBUF, missing_line
from andon.services import Services
from andon.state import LiveState
from collector.hardware import LineHardware
from collector.mqtt_out import MqttPublisher
from collector.sources import SourceRunner
from collector.sparkplug_out import SparkplugEdgeNode
from collector.uns_out import UnsPublisher
from devices.links.mqtt import MqttLink
from devices.links.pool import LinkPool

log = logging.getLogger(__name__)


def attach_mqtt_outputs(
    services: Services, brokers: LinkPool[tuple[str, int, str], MqttLink] | None = None,
) -> MqttPublisher | None:
    """Publish every visible state change and andon event to the plant's broker, if one is configured.

    ``brokers``: the server's MQTT links, so the publisher shares the connection its count sources read on.
    The listeners join the live hub when the app starts; the caller closes the publisher on shutdown.
    """
    if services.config.mqtt is None:
        return None
    publisher = MqttPublisher(services.config.mqtt, brokers, services.clock)

    def on_state(line_id: str, state: LiveState) -> None:
        publisher.publish_state(line_id, state.encoded())

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


def attach_namespace_outputs(services: Services) -> list[SparkplugEdgeNode | UnsPublisher]:
    """Publish every visible state change and andon event as a Sparkplug B edge node and/or UNS topics.

    Each is configured under ``outputs`` and needs ``mqtt``; the caller closes them on shutdown.
    """
    config = services.config
    if config.mqtt is None:
        return []
    outputs: list[SparkplugEdgeNode | UnsPublisher] = []
    if config.outputs.sparkplug is not None and not PROTOBUF.installed():
        log.error("%s", missing_line("the Sparkplug B output (outputs.sparkplug)", PROTOBUF))
    elif config.outputs.sparkplug is not None:
        line_ids = [line.id for line in config.lines]
        outputs.append(SparkplugEdgeNode(config.mqtt, config.outputs.sparkplug, line_ids, services.clock))
    if config.outputs.uns is not None:
        outputs.append(UnsPublisher(config.mqtt, config.outputs.uns, services.clock))
    for output in outputs:
        def on_state(line_id: str, state: LiveState, output: SparkplugEdgeNode | UnsPublisher = output) -> None:
            output.publish_state(line_id, state.model)

        services.hub.state_listeners.append(on_state)

        def on_event(message: dict[str, Any], output: SparkplugEdgeNode | UnsPublisher = output) -> None:
            if message.get("type") == "andon":
                output.publish_andon(str((message.get("call") or {}).get("line", "")), message)

        services.hub.event_listeners.append(on_event)
    return outputs


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
        retained = CounterMetricFamily(
            "andon_source_retained_messages", "Retained MQTT messages a count source got, by use "
            "(baseline, replay skipped, refused)", labels=["line", "source", "use"],
        )
        for (line_id, source_id), driver in list(self.runner.drivers.items()):
            for use, n in sorted(getattr(driver, "retained", {}).items()):
                retained.add_metric([line_id, source_id, str(use)], float(n))
        yield retained


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
