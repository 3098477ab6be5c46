"""Fixtures for the edge tests: a real `andon serve`/`andon run` process, a pymodbus PLC, an edge runner."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from andon.config.loader import load_config
from collector.edge import Edge
from tests.conftest import free_port, shift_around_now, wait_until
from tests.mqtt.conftest import mqtt_client  # noqa: F401 - the MQTT tests' client fixture, shared

ROOT = Path(__file__).resolve().parents[2]
UNIT = 1

# One shift from an hour ago to three hours ahead: the board is live whenever the test runs, and
# no shift change can reset the totals the test compares while it runs on the wall clock.
CONFIG = """
plant: {{name: Edge Test Plant, timezone: UTC}}
database: sqlite:///{db}
{mqtt}
shifts:
  - {{id: run, start: "{start}", end: "{end}"}}
lines:
  - id: line1
    takt_seconds: 60
    sources:
{sources}
  - id: line2
    takt_seconds: 60
    sources:
      - {{type: simulator, id: sim, cycle_seconds: 0.02, jitter: 0.2, stop_chance: 0, scrap_rate: 0.2, seed: 7}}
"""


def plc_source(port: int, **keys: Any) -> str:
    """Return the YAML of a 16-bit cumulative Modbus counter at holding register 0 of the test PLC."""
    extra = "".join(f", {k}: {v}" for k, v in keys.items())
    return (f"      - {{type: modbus, id: plc, host: 127.0.0.1, port: {port}, register: 0, mode: cumulative, "
            f"bits: 16, poll_seconds: 0.03, timeout_seconds: 1, reconnect_max_seconds: 0.2{extra}}}\n")


def mqtt_source(topic: str = "plant/line1/parts") -> str:
    """Return the YAML of an MQTT increment source with JSON count and id fields."""
    return f"      - {{type: mqtt, id: parts, topic: {topic}, mode: increment, field: n, id_field: id}}\n"


def write_config(tmp_path: Path, sources: str, mqtt_port: int | None = None, name: str = "plant.yaml") -> Path:
    """Write a plant config whose database lives in ``tmp_path``; return its path."""
    mqtt = f"mqtt: {{host: 127.0.0.1, port: {mqtt_port}, topic_prefix: andon}}" if mqtt_port else ""
    path = tmp_path / name
    start, end = shift_around_now()
    path.write_text(CONFIG.format(db=tmp_path / "server.db", mqtt=mqtt, start=start, end=end,
                                  sources=sources or "      []\n"))
    return path


class AndonProcess:
    """`python -m andon.cli serve|run CONFIG` on a free port: started, stopped, killed, restarted."""

    def __init__(self, config: Path, command: str = "serve") -> None:
        self.config = config
        self.command = command
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = config.parent / f"andon-{command}.log"

    def start(self) -> None:
        """Start and wait until /healthz answers."""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "andon.cli", "--log-level", "INFO", self.command, str(self.config),
             "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"),  # noqa: SIM115
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"andon {self.command} did not answer on {self.url}")

    def stop(self) -> None:
        """Stop with SIGTERM (the server writes every count) and wait."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def state(self, line: str = "line1") -> dict[str, Any]:
        """Return a line's live state from the API."""
        reply = httpx.get(f"{self.url}/api/lines/{line}/state", timeout=5)
        reply.raise_for_status()
        state: dict[str, Any] = reply.json()
        return state

    def parts(self, line: str = "line1") -> int:
        """Return good plus scrap parts the board shows for the current shift."""
        state = self.state(line)
        return int(state["actual_to_date"]) + int(state["scrap_to_date"])

    def events(self, line: str = "line1") -> list[tuple[str, int, int, str]]:
        """Return the stored count events (event id, count, flags, source) in the order they were written."""
        db = sqlite3.connect(f"file:{self.config.parent / 'server.db'}?mode=ro", uri=True)
        try:
            rows = db.execute(
                "SELECT event_id, count, flags, source_id FROM count_events WHERE line_id = ? ORDER BY id", (line,)
            ).fetchall()
        finally:
            db.close()
        return [(str(a), int(b), int(c), str(d)) for a, b, c, d in rows]


@pytest.fixture
def andon_server(tmp_path: Path) -> Iterator[Callable[..., AndonProcess]]:
    """Make `andon serve` (or `run`) processes; every one is stopped after the test."""
    made: list[AndonProcess] = []

    def make(config: Path, command: str = "serve") -> AndonProcess:
        server = AndonProcess(config, command)
        made.append(server)
        server.start()
        return server

    yield make
    for server in made:
        server.stop()


class Loop:
    """An asyncio loop on a thread, for the PLC and an in-process edge."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        """Run a coroutine on the loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        """Stop the loop and its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class Plc:
    """A pymodbus server standing in for a PLC whose counter register the test sets."""

    def __init__(self, loop: Loop) -> None:
        self.loop = loop
        self.port = free_port()
        self.server: Any = None

    def start(self) -> None:
        """Listen with 16 holding registers, all zero."""
        from pymodbus.server import ModbusTcpServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        async def start() -> None:
            bits = [SimData(0, count=16, values=False, datatype=DataType.BITS)]
            words = [SimData(0, count=16, values=0, datatype=DataType.REGISTERS)]
            device = SimDevice(id=UNIT, simdata=(bits, list(bits), words, list(words)))
            self.server = ModbusTcpServer(device, address=("127.0.0.1", self.port))
            await self.server.serve_forever(background=True)

        self.loop.call(start())

    def set_counter(self, value: int) -> None:
        """Set holding register 0 from the PLC side."""
        self.loop.call(self.server.async_setValues(UNIT, 16, 0, [value]))

    def stop(self) -> None:
        """Stop listening."""
        if self.server is not None:
            self.loop.call(self.server.shutdown())
            self.server = None


@pytest.fixture
def loop() -> Iterator[Loop]:
    """An event loop on a thread, closed after the test."""
    running = Loop()
    yield running
    running.close()


@pytest.fixture
def plc(loop: Loop) -> Iterator[Plc]:
    """A pymodbus PLC on a free port, stopped after the test."""
    server = Plc(loop)
    server.start()
    yield server
    server.stop()


class EdgeRunner:
    """An in-process edge on the test loop; ``stop`` is a clean shutdown."""

    def __init__(
        self, loop: Loop, config: Path, lines: list[str], server: str, queue: Path, **options: Any
    ) -> None:
        self.loop = loop
        self.edge = Edge(load_config(config), lines, server, queue, name="e1", retry_max=0.3, **options)
        loop.call(self.edge.start())
        self.running = True

    def stop(self) -> None:
        """Stop reading and forwarding, keeping the queue on disk."""
        if self.running:
            self.loop.call(self.edge.stop())
            self.running = False

    def counter_value(self, source: str = "plc", line: str = "line1") -> int | None:
        """Return the edge's last counter value of a cumulative source."""
        return self.edge.counter.normalisers[(line, source)].state.value


@pytest.fixture
def edges(loop: Loop) -> Iterator[Callable[..., EdgeRunner]]:
    """Make in-process edges; every one is stopped after the test."""
    made: list[EdgeRunner] = []

    def make(config: Path, server: str, queue: Path, lines: list[str] | None = None, **options: Any) -> EdgeRunner:
        runner = EdgeRunner(loop, config, lines or ["line1"], server, queue, **options)
        made.append(runner)
        return runner

    yield make
    for runner in made:
        runner.stop()


class EdgeProcess:
    """`python -m andon.cli collect` as a process the test can kill -9."""

    def __init__(self, config: Path, server: str, queue: Path, lines: list[str]) -> None:
        self.args = [sys.executable, "-m", "andon.cli", "--log-level", "INFO", "collect", str(config),
                     "--server", server, "--queue", str(queue), "--edge-id", "e1"]
        for line in lines:
            self.args += ["--line", line]
        self.log = config.parent / "andon-collect.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the edge."""
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(self.args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "ab"))  # noqa: SIM115
        wait_until(lambda: "collecting lines" in self.log.read_text(), timeout=20)

    def kill(self) -> None:
        """Kill -9: no shutdown code runs."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        """Stop with SIGTERM."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


@pytest.fixture
def edge_process() -> Iterator[Callable[..., EdgeProcess]]:
    """Make edge processes; every one is stopped after the test."""
    made: list[EdgeProcess] = []

    def make(config: Path, server: str, queue: Path, lines: list[str] | None = None) -> EdgeProcess:
        proc = EdgeProcess(config, server, queue, lines or ["line1"])
        made.append(proc)
        proc.start()
        return proc

    yield make
    for proc in made:
        proc.stop()


def queued(queue: Path) -> int:
    """Return how many events wait in an edge's queue file (read-only look)."""
    db = sqlite3.connect(f"file:{queue}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    finally:
        db.close()
