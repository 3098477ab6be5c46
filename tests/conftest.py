"""Fixtures shared by the tests: free ports, a real Mosquitto broker, a recording sink."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("GPIOZERO_PIN_FACTORY", "mock")


@pytest.fixture(autouse=True)
def plants_are_closed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every plant a test built and release its database connections when the test ends.

    A plant left open keeps its writer thread and its SQLite connections (three files each), and a thousand
    tests ran the process past 1,024 open files, where a serial port's select() fails.
    """
    from andon.plant import Plant

    built: list[Plant] = []
    init = Plant.__init__

    def recorded(self: Plant, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        built.append(self)

    monkeypatch.setattr(Plant, "__init__", recorded)
    yield
    for plant in built:
        plant.writer.close(timeout=2.0)
        plant.store.engine.dispose()


@pytest.fixture(autouse=True)
def state_documents_match_the_model(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Check every live state document any test makes: it is its model's JSON form, and encodes to the model's bytes.

    The hub sends documents without validating them (a state per count); this holds it to the model, over every
    state every test makes (products, work orders, changeovers, stops, andon calls, stale sources, no shift).
    A mismatch is recorded, not raised (the hub would log and skip it), and fails the test at its end.
    """
    from andon.live import LineStates
    from andon.state import LineState, encode_document

    made = LineStates.document
    mismatches: list[str] = []

    def checked(self: LineStates, line_id: str) -> dict[str, Any]:
        document = made(self, line_id)
        model = LineState.model_validate(document)
        if model.model_dump(mode="json") != document or list(model.model_dump(mode="json")) != list(document):
            mismatches.append(f"line {line_id}: document {document} is not its model's {model.model_dump(mode='json')}")
        elif encode_document(document) != model.model_dump_json().encode():
            mismatches.append(f"line {line_id}: {encode_document(document)!r} != {model.model_dump_json()!r}")
        return document

    monkeypatch.setattr(LineStates, "document", checked)
    yield
    assert not mismatches, mismatches[:3]


@pytest.fixture(autouse=True)
def kept_stops_match_a_fresh_search(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Check every time a state reuses a line's kept open stop and stop prompt: a fresh search finds the same.

    The state keeps them while their inputs stand still and time alone cannot change them (a busy line has a
    state per count); this holds that promise over every state every test makes. A mismatch is recorded and
    fails the test at its end.
    """
    from andon.live import LineStates

    found = LineStates._stops
    mismatches: list[str] = []

    def checked(self: LineStates, line: Any, instance: Any, now: float) -> Any:
        kept = self._kept.get(line.id)
        result = found(self, line, instance, now)
        if result is not None and kept is not None and self._kept.get(line.id) is kept:  # reused: search afresh
            del self._kept[line.id]
            fresh = found(self, line, instance, now)
            self._kept[line.id] = kept
            if fresh != result:
                mismatches.append(f"line {line.id} at {now}: kept {result}, a fresh search finds {fresh}")
        return result

    monkeypatch.setattr(LineStates, "_stops", checked)
    yield
    assert not mismatches, mismatches[:3]


@pytest.fixture
def files_past_1023() -> Iterator[None]:
    """Hold files open until the next descriptor is past 1023, where select() fails (andon run raises its
    open-file limit for its connections, so a port it opens can get such a descriptor)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"the hard open-file limit {hard} is below 1200")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    held: list[int] = []
    try:
        while not held or held[-1] < 1030:
            held.append(os.open(os.devnull, os.O_RDONLY))
        yield
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def shift_around_now() -> tuple[str, str]:
    """Return (start, end) HH:MM in UTC of a shift that began an hour ago and ends in three hours."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return (now - timedelta(hours=1)).strftime("%H:%M"), (now + timedelta(hours=3)).strftime("%H:%M")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    """Wait until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


class Mosquitto:
    """A real Mosquitto broker on a free loopback port, with persistence, that can be restarted."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        conf = workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {workdir}/\n"
            "autosave_interval 1\n"
            "max_queued_messages 0\n"
            "max_inflight_messages 0\n"
            "user root\n"
        )
        self.conf = conf

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen(
            [binary, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / "mosquitto.log", "ab"),  # noqa: SIM115
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        """Stop the broker cleanly (it saves its persistence file)."""
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def restart(self) -> None:
        """Stop and start again on the same port."""
        self.stop()
        self.start()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """Run a real Mosquitto broker for one test."""
    broker = Mosquitto(tmp_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@dataclass
class RecordingSink:
    """A ReadingSink that records what a driver delivers (the driver under test is real)."""

    readings: list[dict[str, Any]] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reading(
        self,
        value: Any,
        *,
        ts: Any = None,
        event_id: str | None = None,
        kind: str | None = None,
        on_stored: Callable[[], None] | None = None,
        reason: str | None = None,
    ) -> None:
        """Record a reading and acknowledge it at once."""
        with self.lock:
            self.readings.append({"value": value, "ts": ts, "event_id": event_id, "kind": kind}
                                 | ({"reason": reason} if reason is not None else {}))
        if on_stored is not None:
            on_stored()

    def online(self) -> None:
        """Record that the source answers."""
        with self.lock:
            self.events.append(("online", ""))

    def offline(self, reason: str) -> None:
        """Record that the source does not answer."""
        with self.lock:
            self.events.append(("offline", reason))

    def values(self) -> list[Any]:
        """Return the values recorded so far."""
        with self.lock:
            return [r["value"] for r in self.readings]


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, step: float = 0.02) -> None:
    """Poll ``predicate`` until true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout} s")


class Postgres:
    """A throwaway PostgreSQL cluster on a free loopback port (initdb + pg_ctl, run as user postgres)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.data = workdir / "pgdata"
        self.workdir = workdir

    def _as_postgres(self, *args: str) -> None:
        command = list(args)
        if os.geteuid() == 0:  # initdb refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)

    def start(self) -> None:
        """Create the cluster and start the server."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres")
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb")) or [Path(shutil.which("initdb") or "initdb")]
        self.bindir = found[-1].parent
        self._as_postgres(str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        self._as_postgres(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.workdir / "pg.log"), "-w", "start",
            "-o", f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off",
        )

    def url(self, database: str = "postgres") -> str:
        """Return the SQLAlchemy URL of a database on this server."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        """Stop the server."""
        self._as_postgres(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    """Run a real PostgreSQL server for the session."""
    folder = Path(tempfile.mkdtemp(prefix="andon-pg-"))  # not under /tmp/pytest-of-root: user postgres must enter it
    server = Postgres(folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
