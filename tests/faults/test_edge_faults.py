"""An edge draining its queue to the server survives both ends being killed with SIGKILL mid-drain (every count
once on the server), and an edge's stop is bounded even with a server and a PLC that do not answer."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Mosquitto
from tests.edge.conftest import AndonProcess, EdgeProcess, EdgeRunner, Plc, plc_source, queued
from tests.faults.conftest import Runs, fault_config, mqtt_parts, stored_ids, wait_for
from tests.mqtt.conftest import TestClient


def test_server_and_edge_killed_while_the_edge_drains(
    tmp_path: Path, runs: Runs, mosquitto: Mosquitto, mqtt_client: Callable[..., TestClient],
    edge_process: Callable[..., EdgeProcess],
) -> None:
    db = tmp_path / "server.db"
    config = fault_config(tmp_path, db, mqtt_parts(), mosquitto.port)
    server = AndonProcess(config, "serve")  # not started yet: the edge queues everything
    server.log = tmp_path / "serve.log"
    runs.made.append(server)
    queue = tmp_path / "edge.db"
    edge = edge_process(config, server.url, queue)
    device = mqtt_client("device")
    # Until the edge has subscribed, the broker keeps nothing for it: probe (one id) until one is queued.
    wait_for(lambda: device.publish("plant/line1/parts", '{"n": 1, "id": "probe"}') is not None
             and queued(queue) == 1, timeout=20, step=0.2)
    total = 1500
    for i in range(total):
        device.publish("plant/line1/parts", json.dumps({"n": 1, "id": f"d{i}"}), wait=False)
    wait_for(lambda: queued(queue) == total + 1, timeout=60)

    server.start()
    wait_for(lambda: len(stored_ids(db)) >= 200, timeout=60)
    assert server.proc is not None
    server.proc.send_signal(signal.SIGKILL)  # the server dies mid-drain
    server.proc.wait(10)
    server.proc = None
    server.start()
    at_kill = len(stored_ids(db))
    wait_for(lambda: len(stored_ids(db)) >= at_kill + 200, timeout=60)
    edge.kill()  # and then the edge dies mid-drain
    assert 0 < queued(queue) < total
    edge.start()
    wait_for(lambda: queued(queue) == 0, timeout=120)
    ids = stored_ids(db)
    assert sorted(ids) == sorted([f"d{i}" for i in range(total)] + ["probe"])  # every count once
    assert server.state()["actual_to_date"] == total + 1


def stored_counter(queue: Path) -> int | None:
    """Return the PLC counter reading the edge has committed to its queue file, if any."""
    conn = sqlite3.connect(f"file:{queue}?mode=ro", uri=True, timeout=5)
    try:
        row = conn.execute("SELECT value FROM counters WHERE source = 'plc'").fetchone()
    except sqlite3.OperationalError:  # the edge has not made its tables yet
        return None
    finally:
        conn.close()
    return None if row is None else int(row[0])


def black_hole() -> tuple[socket.socket, int, threading.Event]:
    """Listen on a free port and accept connections that are never answered."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                held.append(conn)
            except OSError:
                continue
        for conn in held:
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    return listener, int(listener.getsockname()[1]), stop


def test_edge_stop_is_bounded_with_a_server_plc_and_disk_that_do_not_answer(
    tmp_path: Path, plc: Plc, edges: Callable[..., EdgeRunner]
) -> None:
    listener, port, stop = black_hole()
    queue = tmp_path / "edge.db"
    locker = None
    try:
        config = fault_config(tmp_path, tmp_path / "unused.db", plc_source(plc.port))
        runner = edges(config, f"http://127.0.0.1:{port}", queue, timeout=30.0)
        plc.set_counter(5)
        wait_for(lambda: runner.counter_value() == 5, timeout=15)
        plc.set_counter(9)
        wait_for(lambda: stored_counter(queue) == 9, timeout=15)  # 9 is on disk before the lock
        before = queued(queue)  # 1 or 2: whether the first reading of 5 was a baseline depends on the poll
        assert before in (1, 2)
        locker = sqlite3.connect(queue, isolation_level=None, timeout=10)
        locker.execute("BEGIN IMMEDIATE")  # another writer holds the queue file: the edge cannot commit
        plc.set_counter(12)
        time.sleep(0.5)  # the driver polls every 30 ms: it reads 12, and the edge cannot commit it
        plc.stop()  # and the PLC goes away
        started = time.monotonic()
        runner.stop()
        elapsed = time.monotonic() - started
        assert elapsed < 25, f"edge stop took {elapsed:.1f} s"  # five steps, each bounded at 5 s
        locker.rollback()
        assert queued(queue) == before  # the counts the server never answered stay on disk
        stored = sqlite3.connect(f"file:{queue}?mode=ro", uri=True)
        # 9, not 12: the reading that could not be committed is credited again from the PLC after a restart.
        assert stored.execute("SELECT value FROM counters WHERE source = 'plc'").fetchone() == (9,)
        stored.close()
    finally:
        if locker is not None:
            locker.close()
        stop.set()
        listener.close()
