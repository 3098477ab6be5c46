"""Overlapping subscriptions on a broker that sends one copy per subscription, retained replays, and QoS 2.

The duplicating peer is a real Mosquitto 2.0 with ``allow_duplicate_messages true`` (the behaviour its
log announces as the future default): it sends a client one copy of a message per matching filter.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest

from andon.clock import ManualClock
from andon.config.bases import MqttConfig
from devices.connections import Connections
from devices.links.mqtt_filters import covers, join, overlap, wire_filters
from devices.sources.mqtt import MqttSource, MqttSourceConfig
from tests.conftest import Mosquitto, RecordingSink, wait_until
from tests.mqtt.conftest import SourceRunner, TestClient

T0 = 1_800_000_000.0


@pytest.fixture
def duplicating(tmp_path: Path) -> Iterator[Mosquitto]:
    """A Mosquitto that sends one copy of a message per matching subscription of a client."""
    broker = Mosquitto(tmp_path)
    broker.conf.write_text(broker.conf.read_text() + "allow_duplicate_messages true\n")
    broker.start()
    yield broker
    broker.stop()


def connections(broker: Mosquitto, client_id: str = "andon-copies") -> Connections:
    """Return one Connections (one shared link) on the broker."""
    return Connections(ManualClock(T0), mqtt=MqttConfig.model_validate({"port": broker.port, "client_id": client_id}))


def source(shared: Connections, sink: Any, **keys: Any) -> MqttSource:
    """Build an MQTT source on the shared link."""
    return MqttSource(MqttSourceConfig.model_validate({"type": "mqtt", **keys}), sink, shared)


def publish(broker: Mosquitto, topic: str, payloads: list[bytes], *, qos: int = 1, retain: bool = False) -> None:
    """Publish from a plain paho client and wait for the broker's acknowledgements."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="")
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        for payload in payloads:
            client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def test_the_peer_really_sends_one_copy_per_subscription(duplicating: Mosquitto) -> None:
    """The broker under test duplicates: a plain client with two overlapping filters gets each message twice."""
    got: list[bytes] = []
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="plain")
    client.on_message = lambda c, u, m: got.append(bytes(m.payload))
    ready = threading.Event()
    client.on_subscribe = lambda *a: ready.set()
    client.connect("127.0.0.1", duplicating.port)
    client.loop_start()
    try:
        client.subscribe([("line1/#", 1), ("line1/+/count", 1)])
        assert ready.wait(5)
        publish(duplicating, "line1/a/count", [b"1", b"2"])
        wait_until(lambda: len(got) == 4)
        assert sorted(got) == [b"1", b"1", b"2", b"2"]
    finally:
        client.disconnect()
        client.loop_stop()


def test_overlapping_filters_count_each_message_once_per_source(
    duplicating: Mosquitto, runner: SourceRunner
) -> None:
    """Three sources whose filters overlap (covered and partial): 2 messages are 2 readings for each."""
    shared = connections(duplicating)
    sinks = [RecordingSink() for _ in range(3)]
    for sink, topic in zip(sinks, ["line1/#", "line1/+/count", "line1/a/+"], strict=True):
        runner.start(source(shared, sink, topic=topic))
    wait_until(lambda: all(("online", "") in s.events for s in sinks))
    link = next(iter(shared.brokers._links.values()))
    wait_until(lambda: not link._confirming)  # every SUBSCRIBE answered
    publish(duplicating, "line1/a/count", [b"1", b"1"])
    publish(duplicating, "line1/b/count", [b"3"])
    publish(duplicating, "line1/end", [b"9"])  # a fence: everything before it has arrived
    wait_until(lambda: 9 in sinks[0].values() and 3 in sinks[1].values() and len(sinks[2].values()) >= 2)
    assert [s.values() for s in sinks] == [[1, 1, 3, 9], [1, 1, 3], [1, 1]]
    assert getattr(link, "_wire", None) == {"line1/#": 1}


def test_partial_overlaps_subscribe_one_wider_filter() -> None:
    """The wire filters: covered ones dropped, partial overlaps joined, $ topics kept apart, highest QoS kept."""
    assert covers("a/#", "a/b/c") and covers("a/+/c", "a/b/c") and not covers("a/b/c", "a/+/c")
    assert covers("a/#", "a") and not covers("+/x", "$SYS/x") and not covers("a/+", "a/b/c")
    assert overlap("a/+/c", "a/b/+") and not overlap("a/b", "a/c") and overlap("a/#", "a")
    assert not overlap("$SYS/#", "#") and not overlap("a/b", "a/b/c")
    assert join("a/+/c", "a/b/+") == "a/+/+" and join("a/b", "a/b/c") == "a/b/#"
    assert wire_filters({"a/+/c": 0, "a/b/+": 1, "x/y": 0, "x/#": 0}) == {"a/+/+": 1, "x/#": 0}
    assert wire_filters({"$SYS/broker/load": 0, "#": 1}) == {"$SYS/broker/load": 0, "#": 1}


@pytest.mark.parametrize(("mode", "values", "use"), [
    ("increment", [5], {"refused": 1}),
    ("cumulative", [100, 105], {"baseline": 1}),
])
def test_retained_messages_follow_the_mode_rule(
    mode: str, values: list[int], use: dict[str, int], mosquitto: Mosquitto, runner: SourceRunner,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Cumulative: the retained value is the baseline; increment: refused with a WARNING and a tally."""
    publish(mosquitto, "line1/parts", [b"100"], retain=True)
    sink = RecordingSink()
    counter = source(connections(mosquitto), sink, topic="line1/parts", mode=mode)
    with caplog.at_level(logging.WARNING):
        runner.start(counter)
        wait_until(lambda: sum(counter.retained.values()) == 1)
        publish(mosquitto, "line1/parts", [b"5" if mode == "increment" else b"105"])
        wait_until(lambda: len(sink.values()) == len(values))
    assert sink.values() == values
    assert dict(counter.retained) == use
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "retained" in r.getMessage()]
    assert len(warnings) == 1
    if mode == "increment":
        assert dict(counter.rejected) == {"retained": 1}


def test_a_cumulative_replay_after_a_reconnect_is_skipped(mosquitto: Mosquitto, runner: SourceRunner) -> None:
    """After a broker restart the link subscribes again and the broker replays the retained value: not read again."""
    publish(mosquitto, "line1/parts", [b"100"], retain=True)
    sink = RecordingSink()
    counter = source(connections(mosquitto), sink, topic="line1/parts", mode="cumulative")
    runner.start(counter)
    wait_until(lambda: sink.values() == [100])
    mosquitto.restart()
    wait_until(lambda: counter.retained["replay"] == 1, timeout=20)
    publish(mosquitto, "line1/parts", [b"103"])
    wait_until(lambda: sink.values() == [100, 103])
    assert dict(counter.retained) == {"baseline": 1, "replay": 1}


class HoldFirst(RecordingSink):
    """A sink whose first reading is never stored (a storage fault), the rest are."""

    def reading(self, value: Any, *, on_stored: Callable[[], None] | None = None, **kw: Any) -> None:
        """Record; acknowledge all but the first."""
        super().reading(value, **kw)
        if len(self.readings) > 1 and on_stored is not None:
            on_stored()


def test_qos2_messages_are_kept_by_the_broker_until_stored(mosquitto: Mosquitto, runner: SourceRunner) -> None:
    """A QoS 2 source: each message is read once; one not stored before a reconnect is delivered again."""
    sink = HoldFirst()
    counter = source(connections(mosquitto), sink, topic="line1/q2", qos=2, field="n", id_field="id")
    runner.start(counter)
    wait_until(lambda: ("online", "") in sink.events)
    publish(mosquitto, "line1/q2", [b'{"n": 1, "id": "a"}', b'{"n": 1, "id": "b"}'], qos=2)
    wait_until(lambda: len(sink.readings) == 2)
    mosquitto.restart()  # the first was never acknowledged: the persistent session delivers it again
    wait_until(lambda: len(sink.readings) == 3, timeout=20)
    assert [r["event_id"] for r in sink.readings] == ["a", "b", "a"]


__all__ = ["TestClient"]
