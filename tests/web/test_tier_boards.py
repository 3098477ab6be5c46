"""Tier boards in real Chromium: the SQDC month of a line, an area and the plant, with the facts of red days."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pygame
import pytest

from andon.clock import ManualClock
from andon.config.loader import parse_config
from andon.runtime import build_services
from tests.core.engine_fixtures import utc
from tests.servers import RealServer
from tests.web.conftest import ARTIFACTS

PLANT = """\
plant: {{name: Tier Plant, timezone: UTC}}
database: sqlite:///{db}
shifts:
  - {{id: day, start: "06:00", end: "14:00", days: [mon, tue, wed, thu, fri]}}
lines:
  - {{id: line1, name: Assembly 1, takt_seconds: 60, sources: [{{type: http, id: http}}],
     andon: {{categories: [safety, quality], escalation: [{{tier: team_leader, after_seconds: 0}}]}}}}
  - {{id: line2, name: Assembly 2, takt_seconds: 60, sources: [{{type: http, id: http}}],
     andon: {{categories: [safety, quality], escalation: [{{tier: team_leader, after_seconds: 0}}]}}}}
  - {{id: line3, name: Paint 1, takt_seconds: 60, sources: [{{type: http, id: http}}]}}
areas:
  - {{id: assembly, name: Assembly, lines: [line1, line2], leader: Kim}}
  - {{id: paint, name: Paint shop, lines: [line3]}}
"""
RED, GREEN = (224, 50, 43), (31, 157, 71)  # --abnormal, --normal


def produce(services: Any, line: str, start: str, end: str, scrap: int = 0) -> None:
    """Two parts every two minutes (no stop), then the scrap."""
    t = utc(start)
    while t < utc(end):
        services.plant.intake(line, "http", 2, ts=t, event_id=f"{line}-{t}", increment=True)
        t += 120
    if scrap:
        services.plant.intake(line, "http", scrap, ts=utc(end) - 60, kind="scrap", increment=True)
    services.plant.writer.flush()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    """Thursday 26 November: line2 short, scrapping and stopped two hours, with a safety call; Friday so far green."""
    clock = ManualClock(utc("2026-11-26 14:00"))
    config = parse_config(PLANT.format(db=tmp_path_factory.mktemp("tier") / "andon.db"))
    services = build_services(config, clock)
    srv = RealServer(services)
    srv.start()
    produce(services, "line1", "2026-11-26 06:00", "2026-11-26 14:00", scrap=5)
    produce(services, "line2", "2026-11-26 06:00", "2026-11-26 12:00", scrap=20)
    with srv.client() as api:
        clock.set(utc("2026-11-26 10:00"))
        call = {"line": "line2", "station": "st1", "category": "safety"}
        assert api.post("/api/andons", json=call).status_code == 201
        clock.set(utc("2026-11-27 12:00"))
        produce(services, "line1", "2026-11-27 06:00", "2026-11-27 12:00")
        produce(services, "line2", "2026-11-27 06:00", "2026-11-27 12:00")
        assert api.post("/api/problems", json={"title": "Scrap at st4", "line": "line2", "owner": "Ola",
                                                "due_date": "2026-11-20"}).status_code == 201
        assert api.post("/api/problems", json={"title": "Paint runs", "line": "line3"}).status_code == 201
        assert api.put("/api/lines/line2/board/signoff", json={"start": "2026-11-27T06:00:00+00:00",
                                                                "by": "Kim"}).status_code == 200
        note = {"text": "Scrap bin at st4 is full", "by": "Kim"}
        assert api.post("/api/lines/line2/handover/notes", json=note).status_code == 201
    try:
        yield srv
    finally:
        srv.close()


def cell_pixel(page: Any, selector: str) -> tuple[int, int, int]:
    """Return the colour of a cell's left edge (its padding, beside the symbol) as rendered."""
    png = page.locator(selector).screenshot()
    image = pygame.image.load(io.BytesIO(png), "cell.png")
    r, g, b, _ = image.get_at((2, image.get_height() // 2))
    return (r, g, b)


def open_board(page: Any, server: RealServer, path: str) -> None:
    page.goto(server.url + path)
    page.wait_for_selector("body[data-ready='1']", timeout=10_000)


def test_area_board_shows_its_lines_and_the_red_days_with_their_facts(server: RealServer, page: Any) -> None:
    open_board(page, server, "/tier/2/assembly")
    assert page.inner_text("#title") == "Tier 2 \u2014 Assembly (Kim)"
    assert page.eval_on_selector_all("#tiles .tile", "ts => ts.map(t => t.dataset.line)") == ["line1", "line2"]
    colours = page.eval_on_selector_all(
        "#sqdc td.sqdc", "cs => cs.map(c => c.dataset.date.slice(8) + c.dataset.letter + ':' + c.dataset.colour)")
    assert len(colours) == 30 * 4
    assert sorted(c for c in colours if not c.endswith(":none")) == sorted(
        [f"26{x}:red" for x in "SQDC"] + [f"27{x}:green" for x in "SQDC"])
    assert page.eval_on_selector_all("#red-facts li", "ls => ls.map(l => l.innerText)") == [
        "S 2026-11-26 \u2014 line2: 1 safety call",
        "Q 2026-11-26 \u2014 line2: scrap 20 of 380 (5.26 %)",
        "D 2026-11-26 \u2014 line2: 360 of 480 planned (75.0 %)",
        "C 2026-11-26 \u2014 line2: 122 min lost to stops",
    ]
    assert cell_pixel(page, "td[data-date='2026-11-26'][data-letter='D']") == RED
    assert cell_pixel(page, "td[data-date='2026-11-27'][data-letter='D']") == GREEN
    assert page.get_attribute("td[data-date='2026-11-26'][data-letter='Q']", "title") == (
        "Quality 2026-11-26: red \u2014 line2: scrap 20 of 380 (5.26 %)")
    # Only the area's open problems: line3's is not on this board; the overdue one says so.
    assert page.eval_on_selector_all("#problem-rows tbody tr", "rs => rs.map(r => r.innerText.split('\\t'))") == [
        ["Scrap at st4", "line2", "open", "Ola", "2026-11-20 (overdue)"],
    ]
    page.screenshot(path=str(ARTIFACTS / "tier2-assembly.png"), full_page=True)


def test_line_board_has_its_hours_and_its_own_sqdc(server: RealServer, page: Any) -> None:
    open_board(page, server, "/tier/1/line2")
    assert page.inner_text("#title") == "Tier 1 \u2014 Assembly 2"
    rows = page.eval_on_selector_all("#rows tbody tr", "rs => rs.map(r => r.dataset.start)")
    assert rows == [f"2026-11-27T{h:02d}:00:00+00:00" for h in range(6, 14)]
    assert page.inner_text("#rows tbody tr:first-child td.signoff").endswith(" Kim")
    assert page.inner_text("#rows tbody tr:first-child td:nth-child(3)") == "60"
    assert page.eval_on_selector_all("#sqdc td.red", "cs => cs.map(c => c.dataset.letter)") == ["S", "Q", "D", "C"]
    assert page.eval_on_selector_all("#handover li", "ls => ls.map(l => l.innerText)") == [
        "12:00 Kim: Scrap bin at st4 is full"]
    # Every row's numbers agree with each other: actual - plan = delta, the hour in progress against its plan
    # so far (shown beside the hour's plan, as on the board).
    board = server.get("/api/lines/line2/board")
    shown = page.eval_on_selector_all("#rows tbody tr", """rs => rs.map(r => ['planned', 'actual', 'delta']
        .map(c => r.querySelector(`[data-col=${c}]`).textContent))""")
    want = [[f"{r['planned_so_far']} / {r['planned']}" if r["current"] else str(r["planned"]),
             "" if r["actual"] is None else str(r["actual"]),
             "" if r["delta"] is None else (f"+{r['delta']}" if r["delta"] > 0 else str(r["delta"]))]
            for r in board["rows"]]
    assert shown == want
    assert any(r["current"] for r in board["rows"]), "the clock stands in the shift: one hour is in progress"
    page.goto(server.url + "/tier/1/line1")
    page.wait_for_selector("body[data-ready='1']", timeout=10_000)
    assert page.eval_on_selector_all("#sqdc td.red", "cs => cs.length") == 0  # line1 was green both days


def test_plant_board_shows_each_area_today(server: RealServer, page: Any) -> None:
    open_board(page, server, "/tier/3")
    areas = page.eval_on_selector_all(
        "#areas tbody tr", "rs => rs.map(r => [r.dataset.area, ...[...r.querySelectorAll('td.sqdc')].map(c => "
        "c.dataset.colour)])")
    assert areas == [["assembly", "green", "green", "green", "green"], ["paint", "none", "none", "none", "none"]]
    assert page.inner_text("#sqdc-title") == "SQDC \u2014 Tier Plant, 2026-11"
    assert page.get_attribute("#areas a", "href") == "/tier/2/assembly"


def test_unknown_line_or_area_is_404(server: RealServer) -> None:
    with server.client() as api:
        assert api.get("/tier/2/nope").status_code == 404
        assert api.get("/tier/1/nope").status_code == 404
        assert api.get("/tier/2/assembly").status_code == 200


def test_the_board_signs_off_a_finished_hour(server: RealServer, page: Any) -> None:
    page.goto(server.url + "/board/line2")
    page.wait_for_selector("tr.row[data-start='2026-11-27T07:00:00+00:00'] .signoff-btn", timeout=10_000)
    first = "tr.row[data-start='2026-11-27T06:00:00+00:00'] td[data-col=reason]"
    assert page.inner_text(first) == "\u2714 signed 12:00 Kim"  # signed by the fixture, as Kim
    # Every other finished hour made its plan: each has the button; the hour in progress has none.
    hours = page.eval_on_selector_all("tr.row:has(.signoff-btn)", "rs => rs.map(r => r.dataset.start.slice(11, 16))")
    assert hours == ["07:00", "08:00", "09:00", "10:00", "11:00"]
    seven = "tr.row[data-start='2026-11-27T07:00:00+00:00']"
    page.click(seven + " .signoff-btn")
    page.wait_for_selector(seven + " .signoff", timeout=10_000)
    assert page.inner_text(seven + " .signoff") == "\u2714 signed 12:00 open-access"
    assert page.inner_text("#message") == "Hour 07:00\u201308:00 signed off"
    row = server.get("/api/lines/line2/board?date=2026-11-27&shift=day")["rows"][1]
    assert (row["signed_off_at"], row["signed_off_by"], row["signed_off_person"]) == (
        "2026-11-27T12:00:00+00:00", "open-access", None)
