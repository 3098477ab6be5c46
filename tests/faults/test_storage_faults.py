"""Storage that cannot write, on a real filesystem under a real `andon run`: /healthz says 503 with the reason,
counts get 503 (the sender keeps them), nothing is answered 2xx that is not committed, MQTT counts wait
unacknowledged, and everything recovers by itself once the disk writes again."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import Mosquitto
from tests.edge.conftest import ROOT, AndonProcess
from tests.faults.conftest import (
    Disk,
    Runs,
    fault_config,
    health,
    mqtt_parts,
    post,
    stored_ids,
    wait_for,
)
from tests.mqtt.conftest import TestClient


def raise_andon(server: AndonProcess) -> httpx.Response:
    """Raise a material call on line1 station st1."""
    return httpx.post(f"{server.url}/api/andons", json={"line": "line1", "station": "st1", "category": "material"},
                      timeout=10)


def state(server: AndonProcess) -> dict[str, object]:
    """Return line1's live state."""
    reply = httpx.get(f"{server.url}/api/lines/line1/state", timeout=5)
    reply.raise_for_status()
    body: dict[str, object] = reply.json()
    return body


def immutable(paths: list[Path], on: bool) -> None:
    """Set or clear the immutable flag: every write to these files fails, even through open descriptors."""
    for path in paths:
        if path.exists():
            done = subprocess.run(["chattr", "+i" if on else "-i", str(path)], capture_output=True, text=True)
            if done.returncode != 0:
                pytest.skip(f"chattr is not supported here: {done.stderr.strip()}")


def test_read_only_database_is_503_and_recovers_with_every_count_once(
    tmp_path: Path, runs: Runs, mosquitto: Mosquitto, mqtt_client: Callable[..., TestClient]
) -> None:
    db = tmp_path / "data" / "andon.db"
    db.parent.mkdir()
    config = fault_config(tmp_path, db, "      - {type: http, id: http}\n" + mqtt_parts(), mosquitto.port)
    server = runs.start(config)
    device = mqtt_client("device")
    assert [post(server, f"c{i}") for i in range(10)] == [201] * 10
    files = [db, db.with_name("andon.db-wal")]  # not -shm: it is mapped to memory, where a write is no error
    immutable(files, True)
    try:
        assert post(server, "c10") == 503  # refused, not answered 201 and dropped
        code, body = health(server)
        assert code == 503 and body["status"] == "storage_down"
        assert str(body["reason"]).startswith("storage cannot write: ")
        refused = raise_andon(server)
        assert refused.status_code == 503 and "storage cannot write" in refused.json()["detail"]
        assert "Traceback" not in refused.text and len(refused.text) < 400
        for i in range(20):  # MQTT counts during the outage wait, unacknowledged, for the disk
            device.publish("plant/line1/parts", json.dumps({"n": 1, "id": f"m{i}"}))
        board = httpx.get(f"{server.url}/api/lines/line1/board", timeout=5)
        assert board.status_code == 200  # boards still answer
    finally:
        immutable(files, False)
    wait_for(lambda: health(server)[0] == 200, timeout=15)
    assert post(server, "c10") == 201  # the refused one, sent again by its sender: counted now, once
    assert raise_andon(server).status_code == 201
    expected = sorted([f"c{i}" for i in range(11)] + [f"m{i}" for i in range(20)])
    wait_for(lambda: sorted(stored_ids(db)) == expected, timeout=15)
    assert state(server)["actual_to_date"] == 31

    assert server.proc is not None
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(30) == 0
    server.proc = None
    assert "stopped; every count is written" in server.log.read_text()


def test_read_only_disk_at_start_is_one_clear_line(tmp_path: Path, disk: Disk, runs: Runs) -> None:
    db = disk.path / "andon.db"
    config = fault_config(tmp_path, db)
    runs.start(config).stop()
    disk.read_only()  # as a card the kernel remounted read-only after an error, found at the next start
    done = subprocess.run([sys.executable, "-m", "andon.cli", "run", str(config), "--port", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"cannot open the database sqlite:///{db}: unable to open database file" in done.stderr
    assert "Traceback" not in done.stderr


def test_full_disk_is_503_and_recovers(tmp_path: Path, disk: Disk, runs: Runs) -> None:
    db = disk.path / "andon.db"
    server = runs.start(fault_config(tmp_path, db))
    assert [post(server, f"a{i}") for i in range(5)] == [201] * 5
    disk.fill()
    wait_for(lambda: post(server, "a5") == 503 and health(server)[0] == 503, timeout=30, step=0.5)
    assert "full" in str(health(server)[1]["reason"])
    disk.free()
    wait_for(lambda: health(server)[0] == 200, timeout=15)
    assert [post(server, f"a{i}") for i in range(5, 10)] == [201] * 5
    assert sorted(stored_ids(db)) == sorted(f"a{i}" for i in range(10))
    assert state(server)["actual_to_date"] == 10


def test_stop_while_storage_is_down_is_bounded_and_honest(
    tmp_path: Path, disk: Disk, runs: Runs, mosquitto: Mosquitto, mqtt_client: Callable[..., TestClient]
) -> None:
    db = disk.path / "andon.db"
    config = fault_config(tmp_path, db, mqtt_parts(), mosquitto.port)
    server = runs.start(config)
    device = mqtt_client("device")
    device.publish("plant/line1/parts", json.dumps({"n": 1, "id": "before"}))
    wait_for(lambda: stored_ids(db) == ["before"])
    disk.fill()
    for i in range(15):
        device.publish("plant/line1/parts", json.dumps({"n": 1, "id": f"held{i}"}))
    wait_for(lambda: health(server)[0] == 503, timeout=15)
    assert server.proc is not None
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(40) == 1  # within systemd's 30 s stop timeout plus slack; non-zero: counts unwritten
    server.proc = None
    log = server.log.read_text()
    assert "every count is written" not in log
    assert "count event(s) unwritten" in log

    disk.free()  # the counts were never acknowledged: the broker hands them over again
    runs.start(config)
    wait_for(lambda: sorted(stored_ids(db)) == sorted(["before"] + [f"held{i}" for i in range(15)]), timeout=20)


def test_removed_database_file_is_reported(tmp_path: Path, runs: Runs) -> None:
    db = tmp_path / "gone" / "andon.db"
    db.parent.mkdir()
    server = runs.start(fault_config(tmp_path, db))
    assert post(server, "x1") == 201
    for path in db.parent.iterdir():
        path.unlink()
    wait_for(lambda: health(server)[0] == 503, timeout=15, step=0.2)
    assert "removed or replaced" in str(health(server)[1]["reason"])
    assert post(server, "x2") == 503


def test_database_that_cannot_be_opened_is_one_clear_line(tmp_path: Path) -> None:
    config = fault_config(tmp_path, Path("/proc/andon-nowhere/andon.db"))
    done = subprocess.run([sys.executable, "-m", "andon.cli", "run", str(config), "--port", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "cannot open the database sqlite:////proc/andon-nowhere/andon.db" in done.stderr
    assert "Traceback" not in done.stderr
