"""Fixtures for the fault suite: a real `andon run` on a shift that cannot end during the test, a real
filesystem that turns read-only or full under it, and exact counts read from the database itself."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.edge.conftest import ROOT, AndonProcess, shift_around_now
from tests.edge.conftest import andon_server as andon_server  # noqa: F401 - shared fixture
from tests.edge.conftest import edge_process as edge_process  # noqa: F401 - shared fixture
from tests.edge.conftest import edges as edges  # noqa: F401 - shared fixture
from tests.edge.conftest import loop as loop  # noqa: F401 - shared fixture
from tests.edge.conftest import plc as plc  # noqa: F401 - shared fixture
from tests.mqtt.conftest import mqtt_client as mqtt_client  # noqa: F401 - shared fixture

CONFIG = """
plant: {{name: Fault Plant, timezone: UTC}}
database: sqlite:///{db}
{mqtt}
shifts:
  - {{id: run, start: "{start}", end: "{end}"}}
lines:
  - id: line1
    takt_seconds: 60
    sources:
{sources}
"""


def fault_config(folder: Path, db: Path, sources: str = "", mqtt_port: int | None = None) -> Path:
    """Write a one-line plant config with its database at ``db``; return its path."""
    start, end = shift_around_now()
    mqtt = f"mqtt: {{host: 127.0.0.1, port: {mqtt_port}, topic_prefix: andon}}" if mqtt_port else ""
    path = folder / "plant.yaml"
    path.write_text(CONFIG.format(db=db, mqtt=mqtt, start=start, end=end,
                                  sources=sources or "      - {type: http, id: http}\n"))
    return path


def mqtt_parts(topic: str = "plant/line1/parts") -> str:
    """Return the YAML of an MQTT increment source with JSON count and id fields."""
    return f"      - {{type: mqtt, id: parts, topic: {topic}, mode: increment, field: n, id_field: id}}\n"


def stored_ids(db: Path, line: str = "line1") -> list[str]:
    """Return the event ids stored for a line, once per stored event (read straight from SQLite)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute("SELECT event_id FROM count_events WHERE line_id = ? ORDER BY id", (line,)).fetchall()
    finally:
        conn.close()
    return [str(r[0]) for r in rows]


def post(server: AndonProcess, event_id: str, count: int = 1) -> int:
    """POST one count with an id; return the status (0 when the server cannot be reached)."""
    try:
        reply = httpx.post(f"{server.url}/api/lines/line1/counts", json={"count": count, "id": event_id}, timeout=10)
    except httpx.HTTPError:
        return 0
    return reply.status_code


def health(server: AndonProcess) -> tuple[int, dict[str, object]]:
    """Return /healthz's status and body."""
    reply = httpx.get(f"{server.url}/healthz", timeout=5)
    return reply.status_code, reply.json()


class Disk:
    """A small tmpfs mounted for one test: a real filesystem that can turn read-only or fill up."""

    def __init__(self, path: Path, size: str) -> None:
        self.path = path
        self.size = size
        self.filler = path / "filler.bin"

    def mount(self) -> None:
        """Mount it, or skip the test where this machine forbids mounting."""
        self.path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size}", "tmpfs", str(self.path)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); the storage faults need one")

    def read_only(self) -> None:
        """Remount read-only: every write fails with EROFS, as on a failing SD card."""
        subprocess.run(["mount", "-o", "remount,ro", str(self.path)], check=True)

    def read_write(self) -> None:
        """Remount read-write again."""
        subprocess.run(["mount", "-o", "remount,rw", str(self.path)], check=True)

    def fill(self) -> None:
        """Fill every free byte with a file, so the next write fails with ENOSPC."""
        # Unbuffered: a write cut short by the full disk leaves nothing behind for close() to fail on.
        with open(self.filler, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass

    def free(self) -> None:
        """Remove the filler file."""
        self.filler.unlink(missing_ok=True)

    def unmount(self) -> None:
        """Unmount (lazily, in case a process still holds a file)."""
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Disk]:
    """A 4 MiB tmpfs under the test's folder, unmounted afterwards."""
    mounted = Disk(tmp_path / "disk", "4m")
    mounted.mount()
    try:
        yield mounted
    finally:
        mounted.unmount()


class Runs:
    """`andon run` processes of one test, each stopped (or killed) afterwards."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.made: list[AndonProcess] = []

    def start(self, config: Path, command: str = "run", healthy: bool = True) -> AndonProcess:
        """Start `andon run CONFIG` logging outside the config's folder; wait for /healthz 200 (or any answer)."""
        server = AndonProcess(config, command)
        server.log = self.folder / f"andon-{command}-{len(self.made)}.log"
        self.made.append(server)
        if healthy:
            server.start()
            return server
        server.proc = subprocess.Popen(
            [sys.executable, "-m", "andon.cli", "--log-level", "INFO", command, str(config),
             "--host", "127.0.0.1", "--port", str(server.port)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(server.log, "ab"),  # noqa: SIM115
        )
        wait_for(lambda: server.proc is not None and server.proc.poll() is None and health(server)[0] > 0)
        return server


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[Runs]:
    """Start `andon run` processes; every one is stopped after the test."""
    made = Runs(tmp_path)
    yield made
    for server in made.made:
        if server.proc is not None and server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()


def wait_for(predicate: object, timeout: float = 20.0, step: float = 0.05) -> None:
    """Poll a zero-argument callable until it returns true, or fail after ``timeout`` seconds."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except (httpx.HTTPError, sqlite3.Error) as exc:
            last = exc
        if last:
            return
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout} s (last: {last!r})")
