"""The publisher on the count sources' own connection (``andon run``): one connection to the broker, the state a
count causes going back on the connection that brought it, as a lean QoS 1 publish, the connection's last will
the publisher's status, and a TCP quick-ack only for a read that nothing written in its pass answers."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from andon.clock import ManualClock
from andon.config.bases import MqttConfig
from collector.mqtt_out import MqttPublisher
from devices.connections import Connections
from devices.links.mqtt_client import Will, raw_socket
from devices.sources.mqtt import MqttSource, MqttSourceConfig
from tests.conftest import Mosquitto, RecordingSink, wait_until
from tests.mqtt.conftest import SourceRunner, TestClient

T0 = 1_800_000_000.0


class StateSink(RecordingSink):
    """Record each reading and publish the line's state at once, on the loop that read it (as the live hub does);
    the reading's acknowledgement is kept (a commit comes later), so nothing else is written in the read's pass."""

    def __init__(self) -> None:
        super().__init__()
        self.publisher: MqttPublisher | None = None
        self.kept: list[Callable[[], None]] = []

    def reading(self, value: Any, *, on_stored: Callable[[], None] | None = None, **kw: Any) -> None:
        super().reading(value, **kw)
        if on_stored is not None:
            self.kept.append(on_stored)
        if self.publisher is not None:
            self.publisher.publish_state("line1", {"line": "line1", "actual_to_date": len(self.values())})


@pytest.fixture
def shared(mosquitto: Mosquitto, runner: SourceRunner) -> Iterator[Callable[..., tuple[MqttPublisher, MqttSource]]]:
    """Make a publisher and a count source on one Connections (made on the runner's loop, as `andon run` does)."""
    made: list[tuple[MqttPublisher, MqttSource, asyncio.Task[None]]] = []

    def make(sink: StateSink, **mqtt: Any) -> tuple[MqttPublisher, MqttSource]:
        settings = MqttConfig.model_validate({"host": "127.0.0.1", "port": mosquitto.port, "client_id": "andon-run",
                                              "topic_prefix": "andon", **mqtt})
        connections = Connections(ManualClock(T0), mqtt=settings)

        async def publisher() -> MqttPublisher:
            return MqttPublisher(settings, connections.brokers, connections.clock)

        pub = asyncio.run_coroutine_threadsafe(publisher(), runner.loop).result(5)
        config = MqttSourceConfig.model_validate({"type": "mqtt", "topic": "plant/line1/count", "field": "n",
                                                   "id_field": "id"})
        source = MqttSource(config, sink, connections)
        task = runner.start(source)
        wait_until(lambda: pub.connected and source.subscribed.is_set())
        sink.publisher = pub
        made.append((pub, source, task))
        return pub, source

    yield make
    for pub, _source, task in made:
        if task in runner.tasks:
            runner.stop(task)
        pub.close()


def connections_made(mosquitto: Mosquitto, client_id: str) -> int:
    """Count the connections the broker logged for ``client_id``."""
    log = (mosquitto.workdir / "mosquitto.log").read_text()
    return sum(1 for line in log.splitlines() if "New client connected" in line and f" as {client_id} " in line)


def test_states_go_back_on_the_sources_connection_as_lean_qos1_publishes(
    mosquitto: Mosquitto, shared: Any, mqtt_client: Callable[..., TestClient]
) -> None:
    watcher = mqtt_client()
    watcher.subscribe("andon/+/state")
    sink = StateSink()
    pub, source = shared(sink)
    assert source.connection is pub.link  # one link: the sources' persistent session, with the publisher's will
    assert pub.link.persistent and pub.link.client_id == "andon-run"
    assert pub.link.will == Will("andon/status", "offline", qos=1, retain=True)
    assert connections_made(mosquitto, "andon-run") == 1
    assert connections_made(mosquitto, "andon-run-out") == 0
    feed = mqtt_client()
    for k in range(1, 6):
        feed.publish("plant/line1/count", json.dumps({"n": 1, "id": f"c{k}"}))
    wait_until(lambda: len(watcher.messages("andon/line1/state")) == 5)
    assert [json.loads(m[1])["actual_to_date"] for m in watcher.messages("andon/line1/state")] == [1, 2, 3, 4, 5]
    assert watcher.qos[-5:] == [("andon/line1/state", 1)] * 5  # published at QoS 1, so delivered at QoS 1
    client = pub.link.client
    assert client is not None
    wait_until(lambda: not client._lean)  # every lean publish's PUBACK came back
    assert client._out_messages == {}  # none kept by paho for a next connection (link_up publishes the latest)
    late = mqtt_client()
    late.subscribe("andon/line1/state")
    wait_until(lambda: len(late.messages()) == 1)
    assert late.messages() == [("andon/line1/state", b'{"line":"line1","actual_to_date":5}', True)]  # retained


def test_a_read_answered_in_its_pass_carries_its_acknowledgement_and_an_unanswered_one_is_quick_acked(
    shared: Any, mqtt_client: Callable[..., TestClient]
) -> None:
    watcher = mqtt_client()
    watcher.subscribe("andon/+/state")
    sink = StateSink()
    # QoS 0 states: the broker sends nothing back for them, so every read brings a count and nothing else.
    pub, _source = shared(sink, state_qos=0)
    client = pub.link.client
    assert client is not None
    quick_acks: list[int] = []
    real = client.quick_ack
    client.quick_ack = lambda: (quick_acks.append(1), real())[1]  # type: ignore[method-assign]
    feed = mqtt_client()
    for k in range(1, 4):
        feed.publish("plant/line1/count", json.dumps({"n": 1, "id": f"a{k}"}))
        wait_until(lambda k=k: len(watcher.messages("andon/line1/state")) == k)
    assert sink.values() == [1, 1, 1]
    assert quick_acks == []  # each count's read wrote its state in the same pass: no acknowledgement of its own
    sink.publisher = None  # now nothing answers a count when it is read (its acknowledgement waits for a commit)
    for k in range(1, 4):
        feed.publish("plant/line1/count", json.dumps({"n": 1, "id": f"b{k}"}))
        wait_until(lambda k=k: len(sink.values()) == 3 + k)
    assert 1 <= len(quick_acks) <= 3  # each read of them (3, unless two came in one read) was quick-acked
    for settle in sink.kept:
        settle()


def test_the_will_is_the_shared_connections_and_the_publishers_goodbye_leaves_the_sources_reading(
    mosquitto: Mosquitto, shared: Any, runner: SourceRunner, mqtt_client: Callable[..., TestClient]
) -> None:
    status = mqtt_client()
    status.subscribe("andon/status")
    sink = StateSink()
    pub, source = shared(sink)
    wait_until(lambda: status.messages() and status.messages()[-1][1] == b"online")
    client = pub.link.client
    assert client is not None
    sock = raw_socket(client)
    runner.loop.call_soon_threadsafe(sock.shutdown, socket.SHUT_RDWR)  # the connection dies without a goodbye
    wait_until(lambda: b"offline" in [m[1] for m in status.messages()])
    wait_until(lambda: status.messages()[-1][1] == b"online", timeout=15)  # reconnected: online again
    feed = mqtt_client()
    feed.publish("plant/line1/count", json.dumps({"n": 1, "id": "after"}))
    wait_until(lambda: sink.values() == [1])
    sink.publisher = None
    pub.close()  # "offline", then the link is released: the source still reads on it
    wait_until(lambda: status.messages()[-1][1] == b"offline")
    assert source.connection is not None and source.connection.connected
    feed.publish("plant/line1/count", json.dumps({"n": 1, "id": "after goodbye"}))
    wait_until(lambda: sink.values() == [1, 1])
    for settle in sink.kept:
        settle()
