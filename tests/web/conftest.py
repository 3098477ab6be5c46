"""The real andon app on a temp SQLite database and a manual clock, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import gc
import hashlib
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from andon.clock import ManualClock
from andon.config.loader import parse_config
from andon.runtime import build_services
from tests.servers import RealServer

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "web"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
OPERATOR_TOKEN = "tablet-secret-7"
SUPERVISOR_TOKEN = "supervisor-secret-3"
# 04:30 UTC, four and a half hours into the am shift: line1's first hour (one-second takt, 3600
# planned) is over with nothing made, so row 0 is red and "missed"; line2 has four finished hours.
SHIFT_START = datetime(2026, 11, 25, 0, 0, tzinfo=UTC).timestamp()
NOW = SHIFT_START + 4.5 * 3600


def _sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


CONFIG = """\
plant: {{name: Web Test Plant, timezone: UTC}}
database: sqlite:///{db}
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
      stations: [st1, st7, {{id: st9, name: Paint booth}}]
      escalation: [{{tier: team_leader, after_seconds: 0}}, {{tier: supervisor, after_seconds: 3600}}]
  - id: line2
    name: Packing 2
    takt_seconds: 30
    interval_minutes: 60
    sources: [{{type: http, id: http}}]
"""


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    """The plant's clock for the module's tests, at NOW until a test moves it."""
    return ManualClock(NOW)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, clock: ManualClock) -> Iterator[RealServer]:
    """Serve the services and app `andon run` builds (this plant has no MQTT, lights or polled sources)."""
    work = tmp_path_factory.mktemp("web")
    config = parse_config(CONFIG.format(db=work / "andon.db", operator=_sha(OPERATOR_TOKEN),
                                        supervisor=_sha(SUPERVISOR_TOKEN)))
    services = build_services(config, clock)
    srv = RealServer(services)
    # As `andon run` does, for the same reasons: here the server thread shares the process and its
    # GIL with pytest and Playwright, whose heap makes a full collection take ~130 ms (a page load
    # caught by one took 390 ms), and CPython's 5 ms switch interval lets another thread hold a
    # request back.
    gc.collect()
    gc.freeze()
    switch = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        sys.setswitchinterval(switch)
        gc.unfreeze()
        services.plant.close()
        services.store.engine.dispose()


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
    """A fresh browser context (empty localStorage) and page for one test; a tablet-sized viewport."""
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
