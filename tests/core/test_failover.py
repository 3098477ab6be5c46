"""Two real `andon serve` processes on one real PostgreSQL: one active, one standby; the standby takes over within
10 s of the active's loss (SIGKILL) and at once on a clean stop; no count is lost or doubled across it."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from andon import failover
from andon.clock import SystemClock
from andon.config.loader import parse_config
from andon.follow import StreamFollower
from andon.runtime import LEASE_LOST
from andon.storage.lease import Lease
from andon.storage.store import open_database
from tests.conftest import Postgres, free_port, wait_until
from tests.core.test_postgres import fresh_database

pytestmark = pytest.mark.slow

LEASE_SECONDS = 3.0
CONFIG = """
plant: {{name: Pair Plant, timezone: UTC}}
database: {url}
availability: {{lease_seconds: {lease}, servers: [{servers}]}}
shifts:
  - {{id: day, start: "00:00", end: "12:00"}}
  - {{id: night, start: "12:00", end: "00:00"}}
lines:
  - {{id: line1, takt_seconds: 60, sources: [{{type: http, id: http}}]}}
"""


class Pair:
    """The config of a pair and its servers, started and stopped by the test (each stopped at the end)."""

    def __init__(self, tmp_path: Path, url: str, name: str | None = None) -> None:
        self.ports = {"a": free_port(), "b": free_port()}
        self.config = tmp_path / "pair.yaml"
        text = CONFIG.format(url=url, lease=LEASE_SECONDS, servers=", ".join(self.base(n) for n in self.ports))
        if name is not None:
            text = text.replace("availability: {", f"availability: {{name: {name}, ")
        self.config.write_text(text)
        self.tmp_path = tmp_path
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> str:
        port = self.ports[name]
        log = open(self.tmp_path / f"{name}.log", "ab")  # noqa: SIM115 - the process holds it
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "andon.cli", "serve", str(self.config), "--host", "127.0.0.1", "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=log)
        return self.base(name)

    def base(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def health(self, name: str) -> dict[str, Any] | None:
        try:
            reply = httpx.get(self.base(name) + "/healthz", timeout=1)
        except httpx.HTTPError:
            return None
        data: dict[str, Any] = reply.json()
        return data

    def role(self, name: str) -> str | None:
        found = self.health(name)
        return None if found is None else str(found["role"])

    def log(self, name: str) -> str:
        return (self.tmp_path / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
def pair(tmp_path: Path, postgres: Postgres) -> Iterator[Pair]:
    made = Pair(tmp_path, fresh_database(postgres))
    try:
        yield made
    finally:
        made.stop_all()


def post(base: str, event_id: str, count: int = 1) -> httpx.Response:
    return httpx.post(base + "/api/lines/line1/counts", json={"count": count, "id": event_id}, timeout=5)


def actual(base: str) -> int:
    lines = httpx.get(base + "/api/lines", timeout=5).json()
    return int(next(x for x in lines if x["id"] == "line1")["state"]["actual_to_date"])


def test_the_standby_takes_over_and_no_count_is_lost_or_doubled(pair: Pair) -> None:
    a = pair.start("a")
    wait_until(lambda: pair.role("a") == "active", 30)
    b = pair.start("b")
    wait_until(lambda: pair.role("b") == "standby", 30)
    health = pair.health("b")
    assert health is not None and (health["status"], health["active"]) == (
        "standby", {"name": f"{_host()}:{pair.ports['a']}", "url": a})
    active = pair.health("a")
    assert active is not None and (active["status"], active["role"]) == ("ok", "active")

    ids = [f"pair-{uuid.uuid4().hex[:8]}-{i}" for i in range(6)]
    # An edge's client given both servers, the standby first: its counts go to the active one.
    edge = failover.client(failover.servers(f"{b}, {a}/"), timeout=5)
    follower = StreamFollower(f"{b},{a}", lambda _message: None, clock=SystemClock(), retry_min=0.05)
    with followed(follower):
        check_following(pair, a, b, ids, edge, follower)


def check_following(pair: Pair, a: str, b: str, ids: list[str], edge: httpx.Client, follower: StreamFollower) -> None:
    assert follower.wait_connected(10) and follower.url == a.replace("http", "ws") + "/ws"
    assert [edge.post("/api/lines/line1/counts", json={"count": 2, "id": i}).status_code for i in ids[:4]] \
        == [201] * 4
    # The standby records nothing: a count is refused with the active server named, a page sent there.
    refused = post(b, ids[4])
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert refused.json()["detail"] == f"this server ({_host()}:{pair.ports['b']}) is the standby; the active " \
        f"server is {_host()}:{pair.ports['a']} at {a}"
    page = httpx.get(b + "/board/line1?lang=de", timeout=5)
    assert (page.status_code, page.headers["location"]) == (307, a + "/board/line1?lang=de")

    pair.procs["a"].send_signal(signal.SIGKILL)
    lost_at = time.monotonic()
    pair.procs["a"].wait()
    wait_until(lambda: pair.role("b") == "active", 15)
    took = time.monotonic() - lost_at
    print(f"takeover after SIGKILL: {took:.2f} s (lease {LEASE_SECONDS} s)")
    assert took < 10.0, f"the standby took {took:.1f} s to take over"
    # The new active has every count the old one acknowledged; retried ids count once, new ones count.
    assert actual(b) == 8
    # The edge's retries of what it sent before (its answers lost, say) count once; it follows b now.
    assert [edge.post("/api/lines/line1/counts", json={"count": 2, "id": i}).status_code for i in ids[:4]] \
        == [200] * 4
    assert [post(b, i, 1).status_code for i in ids[4:]] == [201, 201]
    wait_until(lambda: follower.url == b.replace("http", "ws") + "/ws" and follower.connected, 15)
    edge.close()
    assert actual(b) == 10

    # The lost server comes back as the standby; a clean stop of the active hands over at once.
    pair.start("a")
    wait_until(lambda: pair.role("a") == "standby", 30)
    pair.procs["b"].send_signal(signal.SIGTERM)
    stopped_at = time.monotonic()
    assert pair.procs["b"].wait(20) == 0
    wait_until(lambda: pair.role("a") == "active", 15)
    assert time.monotonic() - stopped_at < LEASE_SECONDS, "the stopped active gave its lease up"
    assert actual(a) == 10
    assert "took the lease" in pair.log("a") and "standby:" in pair.log("b")


@contextlib.contextmanager
def followed(follower: StreamFollower) -> Iterator[None]:
    """Run a stream follower on its own loop in a thread for the block; stop it after."""
    loop = asyncio.new_event_loop()
    task = loop.create_task(follower.run())
    thread = threading.Thread(target=loop.run_until_complete, args=(asyncio.gather(task, return_exceptions=True),))
    thread.start()
    try:
        yield
    finally:
        loop.call_soon_threadsafe(task.cancel)
        thread.join(10)
        loop.close()


def _host() -> str:
    import socket

    return socket.gethostname()


def test_two_servers_given_one_name_are_still_one_active_and_one_standby(tmp_path: Path, postgres: Postgres) -> None:
    """One config file with a literal availability.name on both machines: each process holds the lease as itself."""
    same = Pair(tmp_path, fresh_database(postgres), name="andon-server")
    try:
        same.start("a")
        wait_until(lambda: same.role("a") == "active", 30)
        b = same.start("b")
        wait_until(lambda: same.role("b") == "standby", 30)
        health = same.health("b")
        assert health is not None and (health["name"], health["active"]["name"]) == ("andon-server", "andon-server")
        assert post(b, "same-1").status_code == 503
        assert post(same.base("a"), "same-1").status_code == 201
        # A crashed active restarted is a new holder: it waits for its old lease like any standby.
        same.procs["a"].send_signal(signal.SIGKILL)
        same.procs["a"].wait()
        same.start("a")
        wait_until(lambda: {same.role("a"), same.role("b")} == {"active", "standby"}, 20)
    finally:
        same.stop_all()


def test_the_lease_is_held_by_one_server_at_a_time(postgres: Postgres) -> None:
    """The lease on its own, on the database's clock: taken, refused to another, renewed, run out, taken over."""
    url = fresh_database(postgres)
    open_database(url).dispose()
    engines = [create_engine(url) for _ in range(2)]
    try:
        one, two = Lease(engines[0], "one", "http://one", 1.0), Lease(engines[1], "two", "http://two", 1.0)
        assert (one.hold(), one.term) == (True, 1)
        assert (two.hold(), two.term) == (False, None)
        holder = two.holder()
        assert holder is not None
        assert (holder.id, holder.name, holder.url, holder.term) == ("one", "one", "http://one", 1)
        assert 0.5 < holder.seconds_left <= 1.0
        assert one.hold() and one.term == 1  # renewed: the same term
        time.sleep(1.1)
        assert (two.hold(), two.term) == (True, 2)  # run out: taken, a new term
        assert (one.hold(), one.term) == (False, None)
        two.release()
        assert (one.hold(), one.term) == (True, 3)
        with engines[0].connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM server_lease")).scalar() == 1
    finally:
        for engine in engines:
            engine.dispose()


def test_an_active_that_cannot_renew_steps_down(pair: Pair, postgres: Postgres) -> None:
    """Another server holding the lease (here: written over it) makes the active stop with status 3."""
    a = pair.start("a")
    wait_until(lambda: pair.role("a") == "active", 30)
    assert post(a, "step-1").status_code == 201
    config = parse_config(pair.config.read_text())
    engine = create_engine(config.database)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE server_lease SET holder = 'intruder', "
                              "expires_at = extract(epoch from clock_timestamp()) + 60"))
        assert pair.procs["a"].wait(LEASE_SECONDS * 2 + 20) == LEASE_LOST
    finally:
        engine.dispose()
    assert "stepping down: another server holds the lease" in pair.log("a")
