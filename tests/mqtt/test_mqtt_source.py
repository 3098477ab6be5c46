"""The MQTT count source against a real Mosquitto broker: payloads, session, restarts and acks."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from andon.clock import ManualClock
from andon.config.bases import MqttConfig
from andon.payload import RejectedReading
from devices.catalog import sources
from devices.connections import Connections
from devices.links.mqtt import MqttLink
from devices.sources.mqtt import MqttSource, MqttSourceConfig
from devices.sources.mqtt_payload import MqttReading, parse_payload
from tests.conftest import Mosquitto, RecordingSink, wait_until
from tests.mqtt.conftest import SourceRunner, TestClient

T0 = 1_800_000_000.0


def make_source(
    broker: Mosquitto,
    sink: Any,
    *,
    clock: ManualClock | None = None,
    connections: Connections | None = None,
    client_id: str = "andon-test",
    **keys: Any,
) -> MqttSource:
    """Build an MQTT source on the test broker."""
    if connections is None:
        settings = broker_settings(host="127.0.0.1", port=broker.port, client_id=client_id)
        connections = Connections(clock or ManualClock(T0), mqtt=settings)
    config = source_config(**keys)
    return MqttSource(config, sink, connections)


def online(sink: RecordingSink) -> Callable[[], bool]:
    """Return a predicate: the sink has been told the source is online."""
    return lambda: ("online", "") in sink.events


class HoldingSink(RecordingSink):
    """A sink that records readings but never stores them (never calls ``on_stored``)."""

    def reading(self, value: Any, *, on_stored: Callable[[], None] | None = None, **kw: Any) -> None:
        """Record the reading and drop the acknowledgement."""
        super().reading(value, **kw)


def test_registered_as_type_mqtt() -> None:
    driver = sources()["mqtt"]
    assert driver.config_model is MqttSourceConfig
    assert driver.driver_class is MqttSource


def source_config(**keys: Any) -> MqttSourceConfig:
    """Build an MQTT source config from keys, as the YAML loader would."""
    return MqttSourceConfig.model_validate({"type": "mqtt", **keys})


def broker_settings(**keys: Any) -> MqttConfig:
    """Build the plant's broker settings from keys."""
    return MqttConfig.model_validate(keys)


CFG = source_config(topic="t", field="n", time_field="ts", id_field="id")
BARE = source_config(topic="t")


@pytest.mark.parametrize(
    ("config", "payload", "expected"),
    [
        (BARE, b"5", MqttReading(5, T0, None)),
        (BARE, b" 17\n", MqttReading(17, T0, None)),
        (BARE, b"12.0", MqttReading(12, T0, None)),
        (BARE, b"-3", MqttReading(-3, T0, None)),
        (CFG, b'{"n": 2}', MqttReading(2, T0, None)),
        (CFG, b'{"n": "3", "id": 42}', MqttReading(3, T0, "42")),
        (CFG, b'{"n": 1, "ts": 1795856400, "id": "a"}', MqttReading(1, 1795856400.0, "a")),
        (CFG, b'{"n": 1, "ts": "1795856400.5"}', MqttReading(1, 1795856400.5, None)),
        (CFG, b'{"n": 1, "ts": "2026-11-28T09:00:00Z"}', MqttReading(1, 1795856400.0, None)),
        (CFG, b'{"n": 1, "ts": "2027-01-15T08:00:00+01:00"}', MqttReading(1, 1799996400.0, None)),
        (CFG, b'{"n": 1, "ts": null, "id": null}', MqttReading(1, T0, None)),
        (CFG, b'{"n": 1, "id": 7.0}', MqttReading(1, T0, "7")),  # the same id as 7 and "7"
        (
            source_config(topic="t", field="m.count", id_field="m.uid"),
            b'{"m": {"count": 9, "uid": "x-1"}}',
            MqttReading(9, T0, "x-1"),
        ),
    ],
)
def test_payloads_read(config: MqttSourceConfig, payload: bytes, expected: MqttReading) -> None:
    assert parse_payload(payload, config, T0) == expected


@pytest.mark.parametrize(
    ("config", "payload", "reason"),
    [
        (BARE, b"abc", "not_a_number"),
        (BARE, b"", "not_a_number"),
        (BARE, b"1_000", "not_a_number"),
        (BARE, b"nan", "not_a_number"),
        (BARE, b"2.5", "not_whole"),
        (BARE, b'{"n": 1}', "not_a_number"),
        (BARE, b"\xff\xfe", "not_utf8"),
        (CFG, b"7", "not_an_object"),
        (CFG, b"n=7", "not_json"),
        (CFG, b"[1]", "not_an_object"),
        (CFG, b'{"count": 1}', "missing_field"),
        (CFG, b'{"n": "x"}', "not_a_number"),
        (CFG, b'{"n": true}', "not_a_number"),
        (CFG, b'{"n": null}', "not_a_number"),
        (CFG, b'{"n": 1, "ts": "yesterday"}', "bad_time"),
        (CFG, b'{"n": 1, "ts": "2026-11-28T09:00:00"}', "bad_time"),
        (CFG, b'{"n": 1, "ts": [1]}', "bad_time"),
        (CFG, b'{"n": 1, "id": {"a": 9}}', "bad_id"),  # an id no redelivery could be matched by
        (CFG, b'{"n": 1, "id": false}', "bad_id"),
        (CFG, b'{"n": 1, "id": [1]}', "bad_id"),
    ],
)
def test_payloads_rejected(config: MqttSourceConfig, payload: bytes, reason: str) -> None:
    with pytest.raises(RejectedReading) as caught:
        parse_payload(payload, config, T0)
    assert caught.value.reason == reason


def test_bare_numbers_carry_the_receive_time(
    mosquitto: Mosquitto, mqtt_client: Callable[..., TestClient], runner: SourceRunner
) -> None:
    sink = RecordingSink()
    runner.start(make_source(mosquitto, sink, topic="plant/line1/counter", mode="cumulative"))
    wait_until(online(sink))
    device = mqtt_client()
    for payload in (b"5", b"6", b" 7\n"):
        device.publish("plant/line1/counter", payload)
    wait_until(lambda: len(sink.readings) == 3)
    assert sink.readings == [{"value": v, "ts": T0, "event_id": None, "kind": None} for v in (5, 6, 7)]
    assert sink.events == [("online", "")]


def test_json_payloads_with_count_time_and_id_fields(
    mosquitto: Mosquitto, mqtt_client: Callable[..., TestClient], runner: SourceRunner
) -> None:
    sink = RecordingSink()
    source = make_source(mosquitto, sink, topic="plant/line1/parts", field="n", time_field="ts", id_field="id")
    runner.start(source)
    wait_until(online(sink))
    device = mqtt_client()
    device.publish("plant/line1/parts", json.dumps({"n": 2, "ts": 1795856400, "id": "a1"}))
    device.publish("plant/line1/parts", json.dumps({"n": "3", "ts": "2027-01-15T08:00:00+01:00", "id": 42}))
    device.publish("plant/line1/parts", json.dumps({"n": 1}))
    wait_until(lambda: len(sink.readings) == 3)
    assert sink.readings == [
        {"value": 2, "ts": 1795856400.0, "event_id": "a1", "kind": None},
        {"value": 3, "ts": 1799996400.0, "event_id": "42", "kind": None},
        {"value": 1, "ts": T0, "event_id": None, "kind": None},
    ]
    assert source.rejected == {}


def test_pulse_mode_counts_each_pulse_not_each_level(
    mosquitto: Mosquitto, mqtt_client: Callable[..., TestClient], runner: SourceRunner
) -> None:
    # A device publishing its input's level: 1 on each part, 0 when it drops back. Only the 1s are parts.
    sink = RecordingSink()
    runner.start(make_source(mosquitto, sink, topic="plant/line1/pulse", mode="pulse"))
    wait_until(online(sink))
    device = mqtt_client()
    for payload in (b"1", b"0", b"1", b"1", b"0", b"-2", b"1", b"0", b"0"):
        device.publish("plant/line1/pulse", payload)
    device.publish("plant/line1/pulse", b"1")
    wait_until(lambda: len(sink.values()) == 5)
    assert sink.values() == [1, 1, 1, 1, 1]


@pytest.mark.parametrize(
    ("topic_filter", "expected"),
    [
        ("plant/+/parts", [1, 2]),
        ("plant/line1/#", [1, 3, 4]),
        ("plant/#", [1, 2, 3, 4]),
        ("plant/line1/parts", [1]),
    ],
)
def test_wildcard_topics(
    topic_filter: str,
    expected: list[int],
    mosquitto: Mosquitto,
    mqtt_client: Callable[..., TestClient],
    runner: SourceRunner,
) -> None:
    sink = RecordingSink()
    runner.start(make_source(mosquitto, sink, topic=topic_filter))
    wait_until(online(sink))
    device = mqtt_client()
    device.publish("plant/line1/parts", b"1")
    device.publish("plant/line2/parts", b"2")
    device.publish("plant/line1/scrap", b"3")
    device.publish("plant/line1/parts/extra", b"4")
    device.publish("other/line1/parts", b"5")
    # A last message every filter matches: once it is in, everything before it has been routed.
    device.publish("plant/line1/parts", b"100")
    wait_until(lambda: 100 in sink.values())
    assert sink.values() == [*expected, 100]


def test_garbage_is_rejected_counted_and_acknowledged(
    mosquitto: Mosquitto, mqtt_client: Callable[..., TestClient], runner: SourceRunner
) -> None:
    sink = RecordingSink()
    source = make_source(mosquitto, sink, topic="plant/line1/parts", field="count", time_field="ts")
    task = runner.start(source)
    wait_until(online(sink))
    device = mqtt_client()
    garbage = [
        b"abc",
        b"[1]",
        b'{"x": 1}',
        b'{"count": "x"}',
        b'{"count": true}',
        b'{"count": 1.5}',
        b'{"count": 1, "ts": "yesterday"}',
        b"\xff\xfe",
        b"",
    ]
    for payload in garbage:
        device.publish("plant/line1/parts", payload)
    device.publish("plant/line1/parts", b'{"count": 4}')
    wait_until(lambda: sink.values() == [4])
    assert source.rejected == {
        "not_json": 2,
        "not_an_object": 1,
        "missing_field": 1,
        "not_a_number": 2,
        "not_whole": 1,
        "bad_time": 1,
        "not_utf8": 1,
    }
    runner.stop(task)

    # Same client id again: the broker would redeliver anything not acknowledged.
    sink2 = RecordingSink()
    runner.start(make_source(mosquitto, sink2, topic="plant/line1/parts", field="count"))
    wait_until(online(sink2))
    device.publish("plant/line1/parts", b'{"count": 8}')
    wait_until(lambda: 8 in sink2.values())
    assert sink2.values() == [8]


def test_duplicate_deliveries_carry_the_same_event_id(
    mosquitto: Mosquitto, mqtt_client: Callable[..., TestClient], runner: SourceRunner
) -> None:
    sink = RecordingSink()
    runner.start(make_source(mosquitto, sink, topic="plant/line1/parts", field="n", id_field="id"))
    wait_until(online(sink))
    device = mqtt_client()
    for _ in range(2):
        device.publish("plant/line1/parts", b'{"n": 1, "id": "evt-9"}')
    wait_until(lambda: len(sink.readings) == 2)
    assert [r["event_id"] for r in sink.readings] == ["evt-9", "evt-9"]


def test_persistent_session_keeps_counts_while_the_source_is_stopped(
    mosquitto: Mosquitto, mqtt_client: Callable[..., TestClient], runner: SourceRunner
) -> None:
    sink = RecordingSink()
    task = runner.start(make_source(mosquitto, sink, topic="plant/line1/parts", field="n", id_field="id"))
    wait_until(online(sink))
    runner.stop(task)

    device = mqtt_client()
    for i in range(1, 101):
        device.publish("plant/line1/parts", json.dumps({"n": i, "id": f"m{i}"}), wait=False)
    device.publish("plant/line1/parts", json.dumps({"n": 1000, "id": "last"}))

    sink2 = RecordingSink()
    runner.start(make_source(mosquitto, sink2, topic="plant/line1/parts", field="n", id_field="id"))
    wait_until(lambda: 1000 in sink2.values())
    assert sink2.values() == [*range(1, 101), 1000]
    assert [r["event_id"] for r in sink2.readings][:3] == ["m1", "m2", "m3"]


def test_broker_restart_mid_stream_loses_nothing(
    mosquitto: Mosquitto, mqtt_client: Callable[..., TestClient], runner: SourceRunner
) -> None:
    sink = RecordingSink()
    runner.start(make_source(mosquitto, sink, topic="plant/line1/parts", field="n", id_field="id"))
    wait_until(online(sink))
    device = mqtt_client("device-line1", persistent=True)
    infos = []
    for i in range(1, 201):
        if i == 101:
            mosquitto.restart()
        infos.append(device.publish("plant/line1/parts", json.dumps({"n": 1, "id": f"m{i}"}), wait=False))
        time.sleep(0.002)
    wait_until(lambda: {r["event_id"] for r in sink.readings} == {f"m{i}" for i in range(1, 201)}, 20)
    # QoS 1 is at least once: a redelivery repeats its id, so the core counts it once.
    assert len({r["event_id"] for r in sink.readings}) == 200
    address = f"127.0.0.1:{mosquitto.port}"
    assert sink.events == [
        ("online", ""),
        ("offline", f"MQTT broker {address} unreachable"),
        ("online", ""),
    ]


def test_acknowledged_only_when_stored(
    mosquitto: Mosquitto, mqtt_client: Callable[..., TestClient], runner: SourceRunner
) -> None:
    holding = HoldingSink()
    task = runner.start(make_source(mosquitto, holding, topic="plant/line1/parts", field="n", id_field="id"))
    wait_until(online(holding))
    device = mqtt_client()
    for i in range(1, 6):
        device.publish("plant/line1/parts", json.dumps({"n": 1, "id": f"m{i}"}))
    wait_until(lambda: len(holding.readings) == 5)
    runner.stop(task)  # as if the collector died before its storage committed

    sink = RecordingSink()
    task = runner.start(make_source(mosquitto, sink, topic="plant/line1/parts", field="n", id_field="id"))
    wait_until(lambda: len(sink.readings) == 5)
    assert [r["event_id"] for r in sink.readings] == ["m1", "m2", "m3", "m4", "m5"]
    runner.stop(task)

    # Stored and acknowledged this time: nothing comes back.
    sink3 = RecordingSink()
    runner.start(make_source(mosquitto, sink3, topic="plant/line1/parts", field="n", id_field="id"))
    wait_until(online(sink3))
    device.publish("plant/line1/parts", json.dumps({"n": 1, "id": "m6"}))
    wait_until(lambda: len(sink3.readings) >= 1)
    time.sleep(0.2)
    assert [r["event_id"] for r in sink3.readings] == ["m6"]


def test_sources_on_one_broker_share_one_connection(
    mosquitto: Mosquitto, mqtt_client: Callable[..., TestClient], runner: SourceRunner
) -> None:
    shared = Connections(ManualClock(T0), mqtt=broker_settings(host="127.0.0.1", port=mosquitto.port,
                                                               client_id="andon-test"))
    sink1, sink2 = RecordingSink(), RecordingSink()
    s1 = make_source(mosquitto, sink1, connections=shared, topic="plant/line1/parts")
    s2 = make_source(mosquitto, sink2, connections=shared, topic="plant/+/parts")
    t1 = runner.start(s1)
    runner.start(s2)
    wait_until(lambda: online(sink1)() and online(sink2)())
    key = ("127.0.0.1", mosquitto.port, "andon-test")
    assert len(shared.brokers) == 1
    assert s1.connection is s2.connection is shared.brokers.get(key)
    device = mqtt_client()
    device.publish("plant/line1/parts", b"1")
    device.publish("plant/line2/parts", b"2")
    wait_until(lambda: sink2.values() == [1, 2])
    assert sink1.values() == [1]
    runner.stop(t1)
    assert shared.brokers.get(key) is s2.connection  # still serving the other source
    device.publish("plant/line2/parts", b"3")
    wait_until(lambda: sink2.values() == [1, 2, 3])


def test_message_for_no_source_is_dropped_after_the_grace_period(
    mosquitto: Mosquitto, mqtt_client: Callable[..., TestClient], runner: SourceRunner
) -> None:
    # An old config subscribed this client id to a topic no source reads any more.
    old = mqtt_client("andon-test", persistent=True)
    old.subscribe("plant/old/parts")
    old.close()
    device = mqtt_client()
    device.publish("plant/old/parts", b"1")

    clock = ManualClock(T0)
    sink = RecordingSink()
    source = make_source(mosquitto, sink, clock=clock, topic="plant/line1/parts")
    task = runner.start(source)
    wait_until(online(sink))
    assert source.connection is not None
    connection: MqttLink = source.connection
    wait_until(lambda: len(connection._held) == 1)
    connection.sweep()
    assert connection.unmatched == 0
    clock.advance(MqttLink.unmatched_grace_seconds)
    connection.sweep()
    assert connection.unmatched == 1
    runner.stop(task)
    # Acknowledged: a new session start does not bring it back.
    source = make_source(mosquitto, RecordingSink(), clock=clock, topic="plant/line1/parts")
    runner.start(source)
    time.sleep(0.3)
    assert source.connection is not None and source.connection._held == []


def test_refused_connection_reports_offline_once_and_stops(
    tmp_path: Path, runner: SourceRunner, caplog: pytest.LogCaptureFixture
) -> None:
    broker = Mosquitto(tmp_path)
    broker.conf.write_text(broker.conf.read_text().replace("allow_anonymous true", "allow_anonymous false"))
    broker.start()
    try:
        sink = RecordingSink()
        shared = Connections(ManualClock(T0), mqtt=broker_settings(
            host="127.0.0.1", port=broker.port, client_id="andon-test", username="u", password="p"
        ))
        source = make_source(broker, sink, connections=shared, topic="plant/line1/parts")
        runner.start(source)
        reason = f"MQTT broker 127.0.0.1:{broker.port} refused the connection: Not authorized"
        wait_until(lambda: sink.events == [("offline", reason)])
        time.sleep(1.5)  # the reconnect backoff starts at 1 s: a spinning client would be back
        assert sink.events == [("offline", reason)]
        log_text = (tmp_path / "mosquitto.log").read_text()
        assert log_text.count("disconnected, not authorised") == 1
        errors = [r for r in caplog.records if r.levelname == "ERROR" and "refused" in r.message]
        assert len(errors) == 1
    finally:
        broker.stop()


def test_broker_down_at_start_is_offline_then_online(tmp_path: Path, runner: SourceRunner) -> None:
    broker = Mosquitto(tmp_path)
    sink = RecordingSink()
    runner.start(make_source(broker, sink, topic="plant/line1/parts"))
    address = f"127.0.0.1:{broker.port}"
    wait_until(lambda: sink.events == [("offline", f"MQTT broker {address} unreachable")])
    broker.start()
    try:
        wait_until(lambda: len(sink.events) == 2, 10)
        assert sink.events == [("offline", f"MQTT broker {address} unreachable"), ("online", "")]
    finally:
        broker.stop()


def test_the_loop_drives_the_connection_and_it_closes_with_the_last_source(
    mosquitto: Mosquitto, runner: SourceRunner,
) -> None:
    # Sources run on an event loop: it drives their link (no paho network thread), and the link's socket is
    # closed when the last source stops.
    def paho_threads() -> list[str]:
        return [t.name for t in threading.enumerate() if t.name.startswith("paho-mqtt-client")]

    shared = Connections(ManualClock(T0), mqtt=broker_settings(host="127.0.0.1", port=mosquitto.port,
                                                               client_id="andon-test"))
    sink = RecordingSink()
    source = make_source(mosquitto, sink, connections=shared, topic="plant/line1/parts")
    task = runner.start(source)
    wait_until(online(sink))
    link = source.connection
    assert link is not None and link.client is not None
    sock = link.client.socket()
    assert sock is not None and sock.fileno() >= 0
    assert paho_threads() == []
    runner.stop(task)
    assert paho_threads() == []
    assert len(shared.brokers) == 0
    assert link.client is None and sock.fileno() == -1


@pytest.mark.parametrize(("mode", "expected"), [("increment", [5]), ("cumulative", [100, 5])])
def test_retained_replay_is_skipped_for_increments(
    mode: str, expected: list[int], mosquitto: Mosquitto, mqtt_client: Callable[..., TestClient], runner: SourceRunner
) -> None:
    device = mqtt_client()
    device.client.publish("plant/line1/parts", b"100", qos=1, retain=True).wait_for_publish(5)
    sink = RecordingSink()
    runner.start(make_source(mosquitto, sink, topic="plant/line1/parts", mode=mode))
    wait_until(online(sink))
    device.publish("plant/line1/parts", b"5")
    wait_until(lambda: 5 in sink.values())
    assert sink.values() == expected


KILLED_COLLECTOR = """
import asyncio, sys
from andon.clock import ManualClock
from andon.config.bases import MqttConfig
from devices.connections import Connections
from devices.sources.mqtt import MqttSource, MqttSourceConfig

class NeverStored:
    def __init__(self): self.n = 0
    def reading(self, value, **kw):
        self.n += 1
        if self.n == 5:
            print("got 5", flush=True)
    def online(self): print("online", flush=True)
    def offline(self, reason): pass

config = MqttSourceConfig.model_validate({"type": "mqtt", "topic": "plant/line1/parts", "field": "n", "id_field": "id"})
settings = MqttConfig.model_validate({"port": int(sys.argv[1]), "client_id": "andon-test"})
asyncio.run(MqttSource(config, NeverStored(), Connections(ManualClock(0), mqtt=settings)).run())
"""


def test_kill_9_before_storage_loses_nothing(
    mosquitto: Mosquitto, mqtt_client: Callable[..., TestClient], runner: SourceRunner
) -> None:
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_COLLECTOR, str(mosquitto.port)], stdout=subprocess.PIPE, cwd=root
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"online\n"
        device = mqtt_client()
        for i in range(1, 6):
            device.publish("plant/line1/parts", json.dumps({"n": 1, "id": f"m{i}"}))
        assert proc.stdout.readline() == b"got 5\n"
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    sink = RecordingSink()
    runner.start(make_source(mosquitto, sink, topic="plant/line1/parts", field="n", id_field="id"))
    wait_until(lambda: len(sink.readings) == 5)
    assert [r["event_id"] for r in sink.readings] == ["m1", "m2", "m3", "m4", "m5"]
