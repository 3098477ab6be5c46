"""A real `andon run` server on a temp SQLite database and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port, wait_for_port

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "web"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
OPERATOR_TOKEN = "tablet-secret-7"
SUPERVISOR_TOKEN = "supervisor-secret-3"


def _sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# Two shifts cover the whole day (UTC), so a board is always live whatever the wall clock says.
# line1 has a one-second takt so its first row is behind within seconds of any shift start.
CONFIG = """\
plant: {{name: Web Test Plant, timezone: UTC}}
database: sqlite:///{db}
api: {{host: 127.0.0.1, port: {port}}}
auth:
  public_read: true
  tokens:
    - {{name: tablet-1, role: operator, token_sha256: "{operator}"}}
    - {{name: sam, role: supervisor, token_sha256: "{supervisor}"}}
shifts:
  - {{id: am, start: "00:00", end: "12:00"}}
  - {{id: pm, start: "12:00", end: "00:00"}}
lines:
  - id: line1
    name: Assembly 1
    takt_seconds: 1
    interval_minutes: 60
    sources: [{{type: http, id: http}}]
    andon:
      categories: [quality, material, maintenance, safety, help]
      escalation: [{{tier: team_leader, after_seconds: 0}}, {{tier: supervisor, after_seconds: 3600}}]
  - id: line2
    name: Packing 2
    takt_seconds: 30
    interval_minutes: 60
    sources: [{{type: http, id: http}}]
"""


class AndonServer:
    """An `andon run` process on a fixed free port and database; can be stopped and started again."""

    def __init__(self, config: Path, port: int, log: Path) -> None:
        self.config = config
        self.port = port
        self.log = log
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "andon.cli", "run", str(self.config), "--host", "127.0.0.1",
                 "--port", str(self.port)],
                cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=env,
            )
        try:
            wait_for_port(self.port, timeout=20)
        except TimeoutError:
            self.stop()
            raise AssertionError("server did not start:\n" + self.log.read_text()) from None

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s)."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def client(self, token: str | None = None) -> httpx.Client:
        """Return an HTTP client for the API, with a bearer token if given."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=5)

    def get(self, path: str) -> Any:
        """GET a JSON document."""
        with self.client() as c:
            reply = c.get(path)
            reply.raise_for_status()
            return reply.json()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AndonServer]:
    """Start `andon run` on a free port for the module's tests; stop it after."""
    work = tmp_path_factory.mktemp("web")
    port = free_port()
    config = work / "andon.yaml"
    config.write_text(CONFIG.format(db=work / "andon.db", port=port, operator=_sha(OPERATOR_TOKEN),
                                    supervisor=_sha(SUPERVISOR_TOKEN)))
    srv = AndonServer(config, port, work / "server.log")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Launch headless Chromium once for the module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (empty localStorage) and page for one test; a TV-sized viewport."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.js_errors = errors
    try:
        yield pg
    finally:
        context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"
