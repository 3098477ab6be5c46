"""The Sparkplug B source against a real Mosquitto and an edge node written in the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from andon.clock import ManualClock
from andon.config.bases import MqttConfig
from andon.config.loader import parse_config
from andon.plant import Plant
from andon.storage.store import Store, open_database
from devices.catalog import sources
from devices.connections import Connections
from devices.sources.sparkplug import SparkplugSource, SparkplugSourceConfig
from devices.sources.sparkplug_payload import payload_class, rebirth_request
from tests.conftest import Mosquitto, RecordingSink, wait_until
from tests.mqtt.conftest import SourceRunner, TestClient
from tests.mqtt.sparkplug_peer import EdgeNode, Payload

T0 = 1_800_000_000.0


@pytest.fixture
def edge(mosquitto: Mosquitto) -> Iterator[EdgeNode]:
    """An edge node Plant1/Line1-PLC on the test broker."""
    node = EdgeNode(mosquitto.port, "Plant1", "Line1-PLC", bd_seq=3)
    yield node
    node.close()


def make_source(broker: Mosquitto, sink: Any, clock: ManualClock, **keys: Any) -> SparkplugSource:
    """Build a Sparkplug source reading Plant1/Line1-PLC/Filler Counters/Good."""
    settings = MqttConfig.model_validate({"port": broker.port, "client_id": "andon-spb"})
    config = SparkplugSourceConfig.model_validate({
        "type": "sparkplug", "group": "Plant1", "edge_node": "Line1-PLC", "device": "Filler",
        "metric": "Counters/Good", **keys,
    })
    return SparkplugSource(config, sink, Connections(clock, mqtt=settings))


def subscribed(source: SparkplugSource) -> None:
    """Wait until the broker confirmed the source's subscription."""
    wait_until(source.subscribed.is_set)


def test_birth_and_data_by_alias_are_read_in_order(
    mosquitto: Mosquitto, edge: EdgeNode, runner: SourceRunner
) -> None:
    """DBIRTH names alias 7; DDATA by alias only gives 101 and 103; the birth's 100 is the baseline."""
    sink = RecordingSink()
    source = make_source(mosquitto, sink, ManualClock(T0))
    runner.start(source)
    subscribed(source)
    edge.birth(100)
    wait_until(lambda: sink.values() == [100])
    assert ("online", "") in sink.events
    edge.data(101)
    edge.data(103)
    wait_until(lambda: len(sink.values()) == 3)
    assert sink.values() == [100, 101, 103]
    assert [r["ts"] for r in sink.readings] == [1_800_000_000.0] * 3  # the payload's timestamp, ms
    assert edge.rebirth_requests() == 0


def test_data_for_an_unknown_alias_asks_for_a_rebirth(
    mosquitto: Mosquitto, edge: EdgeNode, runner: SourceRunner
) -> None:
    """Data before any birth cannot be read: the source asks the node for its births, then reads."""
    sink = RecordingSink()
    source = make_source(mosquitto, sink, ManualClock(T0))
    runner.start(source)
    subscribed(source)
    edge.send("NBIRTH", [])  # an NBIRTH the source did see, then a device data by alias only
    edge.data(50)
    wait_until(lambda: edge.rebirth_requests() == 1)
    assert sink.values() == []
    edge.birth(50)
    edge.data(52)
    wait_until(lambda: sink.values() == [50, 52])


def test_a_sequence_gap_asks_for_a_rebirth_once_per_period(
    mosquitto: Mosquitto, edge: EdgeNode, runner: SourceRunner
) -> None:
    """seq 1, 2 then 5: one NCMD Node Control/Rebirth; the value is still read (the alias is known)."""
    sink = RecordingSink()
    clock = ManualClock(T0)
    source = make_source(mosquitto, sink, clock)
    runner.start(source)
    subscribed(source)
    edge.birth(10)  # NBIRTH seq 0, DBIRTH seq 1
    edge.data(11)  # seq 2
    edge.data(12, seq=5)
    wait_until(lambda: edge.rebirth_requests() == 1)
    edge.data(13, seq=9)  # another gap within rebirth_min_seconds: no second request
    wait_until(lambda: len(sink.values()) == 4)
    clock.advance(5.0)
    edge.data(14, seq=20)
    wait_until(lambda: edge.rebirth_requests() == 2)
    wait_until(lambda: len(sink.values()) == 5)
    assert sink.values() == [10, 11, 12, 13, 14]
    assert source.rebirths_requested == 2


def test_node_death_takes_the_source_offline_with_the_reason(
    mosquitto: Mosquitto, runner: SourceRunner
) -> None:
    """The broker publishes the edge node's NDEATH will: the source goes offline saying so; a birth brings it back."""
    node = EdgeNode(mosquitto.port, "Plant1", "Line1-PLC", bd_seq=3)
    sink = RecordingSink()
    source = make_source(mosquitto, sink, ManualClock(T0))
    runner.start(source)
    subscribed(source)
    node.birth(7)
    wait_until(lambda: sink.values() == [7])
    node.die()
    wait_until(lambda: any(kind == "offline" for kind, _ in sink.events), timeout=15)
    assert sink.events[-1] == ("offline", "Sparkplug edge node Plant1/Line1-PLC died (NDEATH)")
    again = EdgeNode(mosquitto.port, "Plant1", "Line1-PLC", bd_seq=4)
    try:
        again.birth(9)
        wait_until(lambda: sink.values() == [7, 9])
        assert sink.events[-1] == ("online", "")
    finally:
        again.close()


def test_device_death_and_stale_death_of_an_earlier_session(
    mosquitto: Mosquitto, edge: EdgeNode, runner: SourceRunner
) -> None:
    """DDEATH of our device: offline; an NDEATH whose bdSeq is not the current birth's is ignored."""
    sink = RecordingSink()
    source = make_source(mosquitto, sink, ManualClock(T0))
    runner.start(source)
    subscribed(source)
    edge.birth(1)
    wait_until(lambda: sink.values() == [1])
    old = Payload()(timestamp=1)
    old.metrics.add(name="bdSeq", datatype=4, long_value=2)
    edge.client.publish(edge.topic("NDEATH"), old.SerializeToString(), qos=0).wait_for_publish(5)
    edge.send("DDEATH", [], device="Filler")
    wait_until(lambda: sink.events[-1][0] == "offline")
    assert [e for e in sink.events if e[0] == "offline"] == [
        ("offline", "Sparkplug device Plant1/Line1-PLC/Filler died (DDEATH)")
    ]


def test_binary_that_is_not_sparkplug_is_refused(
    mosquitto: Mosquitto, edge: EdgeNode, runner: SourceRunner
) -> None:
    """Bytes that are no protobuf payload: one reject, nothing counted, the next good message read."""
    sink = RecordingSink()
    source = make_source(mosquitto, sink, ManualClock(T0))
    runner.start(source)
    subscribed(source)
    edge.birth(5)
    edge.client.publish(edge.topic("DDATA", "Filler"), b"\xff\xff\xff", qos=0).wait_for_publish(5)
    edge.data(6, seq=2)
    wait_until(lambda: sink.values() == [5, 6])
    assert dict(source.rejected) == {"not_sparkplug": 1}


def test_the_rebirth_request_is_the_specified_message() -> None:
    """The NCMD payload decodes with the test's own schema: one boolean metric Node Control/Rebirth = true."""
    decoded = Payload().FromString(rebirth_request(1_800_000_000_123))
    assert decoded.timestamp == 1_800_000_000_123
    assert [(m.name, m.datatype, m.boolean_value) for m in decoded.metrics] == [("Node Control/Rebirth", 11, True)]
    assert payload_class().FromString(decoded.SerializeToString()).metrics[0].boolean_value is True


def test_registered_and_config_checked() -> None:
    """The driver is found by its type; ids with MQTT wildcards are refused."""
    assert sources()["sparkplug"].driver_class is SparkplugSource
    with pytest.raises(ValueError, match="edge_node"):
        SparkplugSourceConfig.model_validate({"type": "sparkplug", "group": "G", "edge_node": "a/#", "metric": "m"})


def test_an_edge_nodes_counter_shows_on_the_board(
    tmp_path: Path, mosquitto: Mosquitto, edge: EdgeNode, runner: SourceRunner
) -> None:
    """End to end: a Sparkplug counter through the plant's normaliser into the line's state and board rows."""
    config = parse_config(f"""
plant: {{name: P, timezone: UTC}}
database: sqlite:///{tmp_path / 'andon.db'}
mqtt: {{port: {mosquitto.port}, client_id: andon-board}}
shifts: [{{id: day, start: "00:00", end: "23:59"}}]
lines:
  - id: line1
    takt_seconds: 60
    sources:
      - {{type: sparkplug, id: filler, group: Plant1, edge_node: Line1-PLC, device: Filler,
         metric: Counters/Good, mode: cumulative}}
""")
    clock = ManualClock(T0 + 3600)
    plant = Plant(config, Store(open_database(config.database)), clock)
    try:
        source = SparkplugSource(config.lines[0].sources[0], plant.sink("line1", "filler"),
                                 Connections(clock, mqtt=config.mqtt))
        runner.start(source)
        subscribed(source)
        waiting = plant.line("line1").state()  # the broker is up, but no birth yet: nothing known of the node
        assert [(s.status, s.last_seen) for s in waiting.sources] == [("connecting", None)]
        assert (waiting.condition, waiting.reason) == ("stale", "connecting to filler")
        edge.birth(1000)  # the baseline
        for value in (1001, 1003, 1006):
            edge.data(value)
        wait_until(lambda: plant.line("line1").state().actual_to_date == 6)
        state = plant.line("line1").state()
        assert [(s.id, s.online, s.status) for s in state.sources] == [("filler", True, "online")]
    finally:
        plant.close()
        plant.store.engine.dispose()


__all__ = ["TestClient"]
