"""The tablet's product picker and schedule switch, and the board's product line, in real headless Chromium."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from andon.clock import ManualClock
from andon.config.loader import parse_config
from andon.runtime import build_services
from tests.conftest import wait_until
from tests.servers import RealServer
from tests.web.test_pages import enter_token

OPERATOR, SUPERVISOR = "tablet-secret-8", "supervisor-secret-9"
NOW = datetime(2026, 11, 25, 10, 10, tzinfo=UTC).timestamp()


def _sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


CONFIG = f"""\
plant: {{name: Picker Plant, timezone: UTC}}
database: sqlite:///DATABASE
auth:
  public_read: true
  tokens:
    - {{name: tablet-2, role: operator, token_sha256: "{_sha(OPERATOR)}"}}
    - {{name: kim, role: supervisor, token_sha256: "{_sha(SUPERVISOR)}"}}
shifts:
  - {{id: early, start: "06:00", end: "14:00"}}
products:
  - {{id: axle, name: Axle, takt_seconds: 60}}
  - {{id: bracket, name: Bracket, takt_seconds: 45}}
lines:
  - id: line1
    name: Assembly 1
    products: [axle, bracket]
    changeover: {{target_minutes: 15}}
    sources: [{{type: http, id: http}}]
    andon: {{stations: [st1]}}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    """Serve a line with two products on a manual clock at 10:10."""
    work = tmp_path_factory.mktemp("picker")
    services = build_services(parse_config(CONFIG.replace("DATABASE", str(work / "andon.db"))), ManualClock(NOW))
    srv = RealServer(services)
    srv.start()
    try:
        yield srv
    finally:
        srv.close()


def test_a_supervisor_picks_the_product_on_the_tablet_and_the_board_shows_it(
    server: RealServer, browser: Any, page: Any
) -> None:
    with server.client(OPERATOR) as api:  # the line made an axle: its first listed product, never set
        assert api.post("/api/lines/line1/counts", json={"count": 1, "ts": NOW - 60}).status_code == 201
    page.goto(server.url + "/andon?line=line1&station=st1")
    page.wait_for_selector("#product-now")
    page.wait_for_function("document.getElementById('product-now').textContent.includes('Making Axle')")
    page.click("#product-change")
    page.wait_for_selector('#picker-products button[data-product="bracket"]')
    assert page.locator("#picker-products button").all_inner_texts() == [
        "Axle\naxle\ntakt 60 s", "Bracket\nbracket\ntakt 45 s"]
    page.fill("#picker-order", "WO-42")
    page.click('#picker-products button[data-product="bracket"]')
    enter_token(page, SUPERVISOR)  # the tablet's operator role may not: a supervisor's token is asked for
    page.wait_for_function("document.getElementById('message').textContent.includes('Now making Bracket')")
    state = server.get("/api/lines/line1/state")
    assert (state["product"]["id"], state["work_order"]["id"]) == ("bracket", "WO-42")
    assert state["changeover"]["to_product"] == "bracket"
    page.wait_for_function("document.getElementById('product-now').textContent.includes('Making Bracket since 10:10')")
    text = page.inner_text("#product-now")
    assert "order WO-42: 0 made" in text and "changeover axle \u2192 bracket since 10:10" in text

    server.services.clock.set(NOW + 120)  # type: ignore[attr-defined]  # two minutes into the bracket's run
    board = browser.new_page()
    try:
        board.goto(server.url + "/board/line1")
        board.wait_for_function("document.getElementById('product-line').textContent.includes('Making Bracket')")
        board.wait_for_selector('tr.row[data-start="2026-11-25T10:00:00+00:00"] td[data-col="products"]')
        cell = board.inner_text('tr.row[data-start="2026-11-25T10:00:00+00:00"] td[data-col="products"]')
        assert cell == "Axle \u2192 Bracket"
        assert board.inner_text('tr.row[data-start="2026-11-25T06:00:00+00:00"] td[data-col="products"]') == "Axle"
    finally:
        board.close()

    # Not scheduled from now, then scheduled again, from the same tablet.
    page.click("#schedule-toggle")
    page.wait_for_function("document.getElementById('message').textContent.includes('Not scheduled from now')")
    wait_until(lambda: server.get("/api/lines/line1/state")["scheduled"] is False)
    page.wait_for_function("document.getElementById('schedule-toggle').textContent.includes('Scheduled again')")
    page.click("#schedule-toggle")
    wait_until(lambda: server.get("/api/lines/line1/state")["scheduled"] is True)
    assert server.get("/api/lines/line1/state")["condition"] != "off"
