"""Edge mode against a real `andon serve` process, a pymodbus PLC and a real Mosquitto broker."""

from __future__ import annotations

import itertools
import json
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from andon.counting import BUFFERED
from collector.edge import EdgeSink
from tests.conftest import Mosquitto, wait_until
from tests.edge.conftest import (
    AndonProcess,
    EdgeProcess,
    EdgeRunner,
    Plc,
    mqtt_source,
    plc_source,
    queued,
    write_config,
)
from tests.mqtt.conftest import TestClient

Server = Callable[..., AndonProcess]
Edges = Callable[..., EdgeRunner]


def stored_ids(server: AndonProcess) -> set[str]:
    """Return the ids of the count events the server stored for line1."""
    return {event_id for event_id, *_ in server.events()}


def test_edge_holds_counts_while_the_server_is_away_and_drains_them_in_order(
    tmp_path: Path, plc: Plc, andon_server: Server, edges: Edges
) -> None:
    config = write_config(tmp_path, plc_source(plc.port))
    server = andon_server(config)
    edge = edges(config, server.url, tmp_path / "edge.db")
    wait_until(lambda: edge.counter_value() == 0)  # the first reading is the baseline
    plc.set_counter(5)
    wait_until(lambda: server.parts() == 5)

    server.stop()
    for value in (10, 20, 25):
        plc.set_counter(value)
        wait_until(lambda value=value: edge.counter_value() == value)  # type: ignore[misc]
    wait_until(lambda: queued(tmp_path / "edge.db") == 3)
    assert server.proc is None

    server.start()
    wait_until(lambda: queued(tmp_path / "edge.db") == 0)
    assert server.parts() == 25
    wait_until(lambda: len(server.events()) == 4)  # the server commits in batches
    events = server.events()
    assert [count for _, count, _, _ in events] == [5, 5, 10, 5]
    assert [bool(flags & BUFFERED) for _, _, flags, _ in events] == [False, True, True, True]
    assert {source for _, _, _, source in events} == {"plc"}
    seqs = [int(m.group(1)) for m in (re.fullmatch(r"e1\.[0-9a-f]{8}-line1-plc-(\d+)", i) for i, *_ in events) if m]
    assert len(seqs) == 4 and seqs == sorted(seqs)


def test_counter_rollover_and_reset_through_the_edge(
    tmp_path: Path, plc: Plc, andon_server: Server, edges: Edges
) -> None:
    config = write_config(tmp_path, plc_source(plc.port))
    server = andon_server(config)
    plc.set_counter(65_530)
    edge = edges(config, server.url, tmp_path / "edge.db")
    # (register value, parts the board shows afterwards): 16-bit wrap is a rollover, a drop is a reset.
    steps = [(65_530, 0), (65_535, 5), (3, 9), (0, 9), (7, 16)]
    for value, expected in steps:
        plc.set_counter(value)
        wait_until(lambda value=value: edge.counter_value() == value)  # type: ignore[misc]
        wait_until(lambda expected=expected: server.parts() == expected)  # type: ignore[misc]
    wait_until(lambda: len(server.events()) == 3)
    assert [count for _, count, _, _ in server.events()] == [5, 4, 7]


def test_duplicate_qos1_deliveries_are_counted_once(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_client: Callable[..., TestClient], andon_server: Server,
    edges: Edges,
) -> None:
    config = write_config(tmp_path, mqtt_source(), mqtt_port=mosquitto.port)
    server = andon_server(config)
    edge = edges(config, server.url, tmp_path / "edge.db")
    device = mqtt_client("device")
    # The subscription exists once a probe is counted. Each probe has its own id, so the only repeated
    # deliveries are the two below; one client on one topic at QoS 1 arrives in order.
    probes = itertools.count()
    wait_until(lambda: device.publish("plant/line1/parts", json.dumps({"n": 1, "id": f"probe-{next(probes)}"}))
               is not None and server.parts() > 0, timeout=15, step=0.2)
    for payload in ('{"n": 2, "id": "a1"}', '{"n": 3, "id": "a2"}', '{"n": 2, "id": "a1"}'):
        device.publish("plant/line1/parts", payload)
    wait_until(lambda: {"a1", "a2"} <= stored_ids(server))
    wait_until(lambda: queued(tmp_path / "edge.db") == 0)
    device.publish("plant/line1/parts", '{"n": 3, "id": "a2"}')  # redelivered after it reached the server
    device.publish("plant/line1/parts", '{"n": 4, "id": "a3"}')
    wait_until(lambda: "a3" in stored_ids(server))
    wait_until(lambda: queued(tmp_path / "edge.db") == 0)
    events = server.events()
    probe_ids = [i for i, *_ in events if i.startswith("probe-")]
    assert sorted(i for i, *_ in events if not i.startswith("probe-")) == ["a1", "a2", "a3"]
    assert len(probe_ids) == len(set(probe_ids)) >= 1
    assert server.parts() == len(probe_ids) + 2 + 3 + 4
    # Both repeats were dropped, at the edge (still queued) or at the server (already there).
    assert edge.edge.counter.duplicates + edge.edge.forwarder.duplicates == 2


def test_edge_killed_and_restarted_loses_and_doubles_nothing(
    tmp_path: Path, plc: Plc, mosquitto: Mosquitto, mqtt_client: Callable[..., TestClient],
    andon_server: Server, edge_process: Callable[..., EdgeProcess],
) -> None:
    config = write_config(tmp_path, plc_source(plc.port) + mqtt_source(), mqtt_port=mosquitto.port)
    server = andon_server(config)
    queue = tmp_path / "edge.db"
    edge = edge_process(config, server.url, queue)
    device = mqtt_client("device")
    wait_until(lambda: device.publish("plant/line1/parts", '{"n": 1, "id": "probe"}') is not None
               and server.parts() == 1, timeout=15, step=0.2)
    plc.set_counter(40)
    wait_until(lambda: server.parts() == 41)

    sent = [device.publish("plant/line1/parts", json.dumps({"n": 1, "id": f"k{i}"}), wait=False) for i in range(150)]
    wait_until(lambda: server.parts() > 41 + 20)
    edge.kill()  # mid-stream: some messages queued and not acknowledged, some not yet read
    for i in range(150, 300):
        sent.append(device.publish("plant/line1/parts", json.dumps({"n": 1, "id": f"k{i}"}), wait=False))
    for info in sent:
        info.wait_for_publish(5)
    plc.set_counter(70)  # 30 parts made while the edge was down

    edge.start()
    wait_until(lambda: server.parts() == 1 + 40 + 300 + 30, timeout=20)
    wait_until(lambda: queued(queue) == 0)
    assert server.parts() == 371
    wait_until(lambda: len(server.events()) == 303)
    events = server.events()
    ids = [i for i, *_ in events if i.startswith("k")]
    assert len(ids) == len(set(ids)) == 300
    credited = [count for i, count, _, source in events if source == "plc"]
    assert credited == [40, 30]
    db = sqlite3.connect(f"file:{queue}?mode=ro", uri=True)
    assert db.execute("SELECT value FROM counters WHERE source = 'plc'").fetchone() == (70,)
    db.close()


def test_simulated_line_through_the_edge_counts_exactly(
    tmp_path: Path, loop: object, andon_server: Server, edges: Edges, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path, "")
    server = andon_server(config)
    made: list[tuple[Any, str | None]] = []  # what the simulator handed to the edge: (count, kind) per cycle
    hand_over = EdgeSink.reading

    def recorded(sink: EdgeSink, value: Any, **kwargs: Any) -> None:
        made.append((value, kwargs.get("kind")))
        hand_over(sink, value, **kwargs)

    monkeypatch.setattr(EdgeSink, "reading", recorded)
    edge = edges(config, server.url, tmp_path / "edge.db", lines=["line2"])
    wait_until(lambda: len(made) >= 40)
    edge.loop.call(edge.edge.runner.stop())  # the machine stops; the edge keeps forwarding
    edge.edge.counter.flush()
    wait_until(lambda: queued(tmp_path / "edge.db") == 0)
    good = sum(count for count, kind in made if kind == "good")
    scrap = sum(count for count, kind in made if kind == "scrap")
    assert good + scrap == len(made)  # one part per cycle, each good or scrap
    state = server.state("line2")
    assert (state["actual_to_date"], state["scrap_to_date"]) == (good, scrap)
    assert scrap > 0 and good > 0
    wait_until(lambda: len(server.events("line2")) == len(made))  # the server commits in batches
    assert edge.edge.forwarder.sent == len(made)


def test_andon_run_feeds_the_live_board_from_a_plc(tmp_path: Path, plc: Plc, andon_server: Server) -> None:
    config = write_config(tmp_path, plc_source(plc.port))
    server = andon_server(config, "run")
    wait_until(lambda: server.state()["sources"][0]["online"] is True)
    for value, expected in [(3, 3), (10, 10), (11, 11), (40, 40)]:
        plc.set_counter(value)
        wait_until(lambda expected=expected: server.state()["actual_to_date"] == expected)  # type: ignore[misc]
    assert server.state()["actual_to_date"] == 40


def test_parts_per_cycle_is_applied_once_through_the_edge(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_client: Callable[..., TestClient], andon_server: Server,
    edges: Edges,
) -> None:
    source = mqtt_source().replace("id_field: id}", "id_field: id, parts_per_cycle: 2}")
    config = write_config(tmp_path, source, mqtt_port=mosquitto.port)
    server = andon_server(config)
    edges(config, server.url, tmp_path / "edge.db")
    device = mqtt_client("device")
    wait_until(lambda: device.publish("plant/line1/parts", '{"n": 1, "id": "probe"}') is not None
               and server.parts() > 0, timeout=15, step=0.2)
    device.publish("plant/line1/parts", '{"n": 3, "id": "c1"}')  # 3 cycles of 2 parts
    wait_until(lambda: len(server.events()) == 2)
    assert [count for _, count, _, _ in server.events()] == [2, 6]
