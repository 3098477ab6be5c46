"""2,000 idle connections against a real `andon run`: the board still answers, the idle ones are closed.

The server starts with a soft open-file limit of 1024 (systemd's default) and lifts it itself; its
idle and header timeouts are set short (2 s) in its config, as a plant could set them.
"""

from __future__ import annotations

import json
import os
import resource
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from andon.auth import token_hash
from tests.conftest import free_port, shift_around_now, wait_until

IDLE = 2
CONNECTIONS = 2000
CONFIG = """
plant: {{name: Idle Plant, timezone: UTC}}
database: sqlite:///{db}
api: {{host: 127.0.0.1, port: {port}, idle_timeout_seconds: {idle}, header_timeout_seconds: {idle}}}
shifts: [{{id: day, start: "{start}", end: "{end}"}}]
lines: [{{id: line1, takt_seconds: 60, sources: [{{type: http, id: http}}]}}]
"""
SECRET = "edge-secret-42"
AUTH = f"auth: {{public_read: true, tokens: [{{name: edge, role: operator, token_sha256: {token_hash(SECRET)}}}]}}\n"


def _low_soft_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))


def soft_open_files(pid: int) -> int:
    """Return a process's soft limit on open files, from /proc."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise AssertionError("no open-files line")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    config = tmp_path / "idle.yaml"
    start, end = shift_around_now()
    config.write_text(CONFIG.format(start=start, end=end, db=tmp_path / "idle.db", port=port, idle=IDLE) + AUTH)
    proc = subprocess.Popen(
        [sys.executable, "-m", "andon.cli", "run", str(config)],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "run.log", "wb"),  # noqa: SIM115
        preexec_fn=_low_soft_limit,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(base + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, timeout=30)
        yield proc, base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_two_thousand_idle_connections_do_not_stop_the_board(server: tuple[subprocess.Popen[bytes], str]) -> None:
    proc, base = server
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < CONNECTIONS + 500:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, CONNECTIONS + 1000), hard))
    child_hard = int(Path(f"/proc/{proc.pid}/limits").read_text().split("Max open files")[1].split()[1])
    assert soft_open_files(proc.pid) == min(65536, child_hard)  # lifted from 1024 at start-up

    port = int(base.rsplit(":", 1)[1])
    sockets: list[socket.socket] = []
    try:
        for i in range(CONNECTIONS):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            if i % 2:  # half start a request and never finish its headers (slowloris)
                s.sendall(b"GET /api/lines/line1/board HTTP/1.1\r\nHost: plant\r\n")
            sockets.append(s)
        opened = time.monotonic()
        board = httpx.get(base + "/api/lines/line1/board", timeout=5)
        assert board.status_code == 200 and board.json()["line"] == "line1"
        held = len(os.listdir(f"/proc/{proc.pid}/fd"))
        assert held >= CONNECTIONS, held  # the server held every idle connection while it answered
        assert time.monotonic() - opened < IDLE  # ... and answered before any deadline passed

        selector = selectors.DefaultSelector()
        answers: dict[int, bytes] = {}
        for s in sockets:
            s.setblocking(False)
            selector.register(s, selectors.EVENT_READ)
            answers[s.fileno()] = b""
        open_ones = set(answers)
        deadline = time.monotonic() + 10 * IDLE
        while open_ones and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.5):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(4096)
                except ConnectionResetError:
                    data = b""
                if data:
                    answers[sock.fileno()] += data
                else:
                    open_ones.discard(sock.fileno())
                    selector.unregister(sock)
        selector.close()
        assert open_ones == set(), f"{len(open_ones)} connections still open"
        partial = {s.fileno() for i, s in enumerate(sockets) if i % 2}
        assert all(answers[f].startswith(b"HTTP/1.1 408 Request Timeout") for f in partial)
        assert all(answers[f] == b"" for f in answers if f not in partial)
    finally:
        for s in sockets:
            s.close()
    wait_until(lambda: len(os.listdir(f"/proc/{proc.pid}/fd")) < 200)
    assert httpx.get(base + "/api/lines/line1/board", timeout=5).status_code == 200


def test_a_stream_outlives_the_idle_timeout_and_no_token_reaches_the_log(
    server: tuple[subprocess.Popen[bytes], str], tmp_path: Path
) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    _, base = server
    url = base.replace("http://", "ws://") + "/ws"
    with connect(url, additional_headers={"Authorization": f"Bearer {SECRET}"}) as ws:
        assert json.loads(ws.recv(5))["type"] == "state"
        time.sleep(IDLE + 1)  # past the idle and header deadlines: an upgraded stream is not idle
        posted = httpx.post(base + "/api/lines/line1/counts", json={"count": 6},
                            headers={"Authorization": f"Bearer {SECRET}"}, timeout=5)
        assert posted.status_code == 201
        message = json.loads(ws.recv(5))
        while message["type"] == "stop":  # the count closes the stop the silence opened: its event comes first
            message = json.loads(ws.recv(5))
        assert (message["type"], message["state"]["actual_to_date"]) == ("state", 6)
    with connect(url + "?token=" + SECRET) as ws, pytest.raises(ConnectionClosed) as closed:
        ws.recv(5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
    log = (tmp_path / "run.log").read_text()
    assert '"WebSocket /ws?token=<redacted>" [accepted]' in log
    assert SECRET not in log
