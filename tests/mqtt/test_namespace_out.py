"""The Sparkplug B and UNS outputs against a real Mosquitto, read by consumers written in the test."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest

from andon.clock import ManualClock
from andon.config.loader import ConfigError, parse_config
from andon.plant import Plant
from andon.services import Services, services_for
from andon.storage.store import Store, open_database
from collector.outputs import attach_namespace_outputs
from collector.sparkplug_out import SparkplugEdgeNode
from collector.uns_out import UnsPublisher
from tests.conftest import Mosquitto, wait_until
from tests.mqtt.sparkplug_peer import Payload, value_of

T0 = 1_800_000_000.0 + 3600  # 2027-01-15T09:00:00Z, one hour into the shift


class SparkplugHost:
    """An Ignition-style host: follows births and data by alias, checks sequence numbers, can ask for rebirth."""

    def __init__(self, port: int) -> None:
        self.lock = threading.Lock()
        self.devices: dict[str, dict[str, Any]] = {}  # device -> metric name -> value
        self.aliases: dict[str, dict[int, str]] = {}
        self.kinds: list[str] = []
        self.seqs: list[int] = []
        self.node_metrics: dict[str, Any] = {}
        self.deaths: list[dict[str, Any]] = []
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="ignition-like")
        self.client.on_message = self._on_message
        ready = threading.Event()
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        self.client.subscribe("spBv1.0/#", 1)
        assert ready.wait(5)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        parts = message.topic.split("/")
        kind = parts[2]
        if kind == "NCMD":
            return
        payload = Payload().FromString(message.payload)
        with self.lock:
            self.kinds.append(kind if len(parts) == 4 else f"{kind}:{parts[4]}")
            if kind == "NDEATH":
                self.deaths.append({m.name: value_of(m) for m in payload.metrics})
                return
            self.seqs.append(payload.seq)
            if kind == "NBIRTH":
                self.node_metrics = {m.name: value_of(m) for m in payload.metrics}
                return
            device = parts[4]
            if kind == "DBIRTH":
                self.aliases[device] = {m.alias: m.name for m in payload.metrics}
                self.devices[device] = {m.name: value_of(m) for m in payload.metrics}
            elif kind == "DDATA":
                for m in payload.metrics:
                    self.devices[device][self.aliases[device][m.alias]] = value_of(m)

    def value(self, device: str, metric: str) -> Any:
        """Return a device's metric as this host knows it."""
        with self.lock:
            return self.devices.get(device, {}).get(metric)

    def ask_rebirth(self, group: str, node: str) -> None:
        """Publish NCMD Node Control/Rebirth = true."""
        payload = Payload()(timestamp=1)
        payload.metrics.add(name="Node Control/Rebirth", datatype=11, boolean_value=True)
        self.client.publish(f"spBv1.0/{group}/NCMD/{node}", payload.SerializeToString(), qos=1).wait_for_publish(5)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


CONFIG = """
plant: {{name: P, timezone: UTC}}
database: sqlite:///{db}
mqtt: {{port: {port}, client_id: andon-out}}
outputs:
  sparkplug: {{group: Plant1, edge_node: andon}}
  uns: {{enterprise: acme, site: leeds, area: assembly, areas: {{line2: paint}}}}
shifts: [{{id: day, start: "08:00", end: "16:00"}}]
lines:
  - id: line1
    takt_seconds: 60
    sources: [{{type: http, id: http}}]
  - id: line2
    takt_seconds: 120
    sources: [{{type: http, id: http}}]
"""


@pytest.fixture
def plant_services(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[tuple[Services, ManualClock]]:
    """A plant with both outputs configured, on a manual clock."""
    config = parse_config(CONFIG.format(db=tmp_path / "andon.db", port=mosquitto.port))
    clock = ManualClock(T0)
    plant = Plant(config, Store(open_database(config.database)), clock)
    yield services_for(plant), clock
    plant.close()
    plant.store.engine.dispose()


def test_lines_appear_as_sparkplug_devices_and_follow_the_counts(
    mosquitto: Mosquitto, plant_services: tuple[Services, ManualClock]
) -> None:
    """NBIRTH then a DBIRTH per line with every figure; counts arrive as DDATA by alias; seq runs on."""
    services, clock = plant_services
    host = SparkplugHost(mosquitto.port)
    outputs = attach_namespace_outputs(services)
    node = next(o for o in outputs if isinstance(o, SparkplugEdgeNode))
    try:
        wait_until(lambda: node.connected)
        services.hub.refresh()
        wait_until(lambda: host.value("line2", "plan_to_date") == 30)
        assert host.node_metrics == {"bdSeq": 0, "Node Control/Rebirth": False}
        assert host.value("line1", "plan_to_date") == 60  # one hour at 60 s takt
        assert host.value("line1", "condition") == "abnormal"
        assert host.value("line1", "actual_to_date") == 0
        assert host.value("line1", "sources/http/online") is True
        for n in range(3):
            services.plant.intake("line1", "http", 1, ts=T0 - 10 + n, event_id=f"e{n}")
        wait_until(lambda: services.plant.line("line1").state().actual_to_date == 3)
        services.hub.refresh()
        wait_until(lambda: host.value("line1", "actual_to_date") == 3)
        assert host.value("line1", "delta") == -57
        with host.lock:
            assert host.kinds == ["NBIRTH", "DBIRTH:line1", "DBIRTH:line2", "DDATA:line1"]
            assert host.seqs == [0, 1, 2, 3]
        host.ask_rebirth("Plant1", "andon")
        wait_until(lambda: len(host.kinds) == 7)
        with host.lock:
            assert host.kinds[4:] == ["NBIRTH", "DBIRTH:line1", "DBIRTH:line2"]
            assert host.seqs[4:] == [0, 1, 2]
        assert host.value("line1", "actual_to_date") == 3
    finally:
        for output in outputs:
            output.close()
    wait_until(lambda: host.deaths == [{"bdSeq": 0}])
    host.close()


def test_uns_topics_hold_each_figure_retained(
    mosquitto: Mosquitto, plant_services: tuple[Services, ManualClock]
) -> None:
    """acme/leeds/<area>/<line>/andon/<figure> hold {value, timestamp_ms}, retained; line2 in its own area."""
    services, clock = plant_services
    early: list[bytes] = []
    watcher = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="uns-watcher")
    watcher.on_message = lambda c, u, m: early.append(bytes(m.payload))
    watcher.connect("127.0.0.1", mosquitto.port)
    watcher.loop_start()
    watcher.subscribe("acme/leeds/assembly/line1/andon/actual_to_date", 0)
    outputs = attach_namespace_outputs(services)
    uns = next(o for o in outputs if isinstance(o, UnsPublisher))
    try:
        wait_until(lambda: uns.connected)
        services.hub.refresh()
        services.plant.intake("line1", "http", 2, ts=T0 - 5, event_id="a")
        wait_until(lambda: services.plant.line("line1").state().actual_to_date == 2)
        services.hub.refresh()
        wait_until(lambda: any(json.loads(p)["value"] == 2 for p in early))  # the broker holds it now
        watcher.disconnect()
        watcher.loop_stop()
        received: dict[str, tuple[Any, bool]] = {}
        lock = threading.Lock()

        def on_message(client: Any, userdata: Any, message: Any) -> None:
            with lock:
                raw = bytes(message.payload)
                received[message.topic] = (raw if message.topic.endswith("/status") else json.loads(raw),
                                           bool(message.retain))

        late = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="uns-reader")
        late.on_message = on_message
        late.connect("127.0.0.1", mosquitto.port)
        late.loop_start()
        late.subscribe("acme/#", 1)
        try:
            wait_until(lambda: "acme/leeds/paint/line2/andon/plan_to_date" in received
                       and "acme/leeds/assembly/line1/andon/state" in received)
            wait_until(lambda: received.get("acme/leeds/assembly/line1/andon/actual_to_date", ({}, 0))[0]
                       .get("value") == 2)
            with lock:
                assert received["acme/leeds/assembly/line1/andon/actual_to_date"] == (
                    {"value": 2, "timestamp_ms": int(T0 * 1000)}, True)
                assert received["acme/leeds/assembly/line1/andon/plan_to_date"][0]["value"] == 60
                assert received["acme/leeds/paint/line2/andon/plan_to_date"][0]["value"] == 30
                assert received["acme/leeds/assembly/line1/andon/state"][0]["actual_to_date"] == 2
                assert received["acme/leeds/andon/status"] == (b"online", True)
        finally:
            late.disconnect()
            late.loop_stop()
    finally:
        for output in outputs:
            output.close()


def test_outputs_need_a_broker() -> None:
    """An outputs section without mqtt is refused with the key named."""
    with pytest.raises(ConfigError, match="line 3: outputs: outputs publish on the plant's broker"):
        parse_config("""
shifts: [{id: day, start: "08:00", end: "16:00"}]
outputs: {uns: {enterprise: a, site: b}}
lines: [{id: l1, takt_seconds: 60, sources: []}]
""")
