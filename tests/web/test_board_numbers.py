"""The board page in real Chromium shows one meaning per number: the current row against its plan so far,
the big delta equal to that row's cum delta, reasons asked only beyond reason_behind, open andons on the badge.

line2 (takt 30 s, 120 a row) at 04:30: the four finished rows made 123, 119, 118, 123 (483 against 480,
3 ahead) and the current row 04:00-05:00 made 60 against the 60 planned so far of its 120.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from andon.clock import ManualClock
from tests.servers import RealServer
from tests.web.conftest import OPERATOR_TOKEN
from tests.web.test_pages import cell, open_live

MADE = (123, 119, 118, 123, 60)


def seed(server: RealServer) -> list[dict[str, Any]]:
    """Post line2's counts, one batch per row a second after its start; return the board rows."""
    rows = server.get("/api/lines/line2/board")["rows"]
    with server.client(OPERATOR_TOKEN) as api:
        for i, made in enumerate(MADE):
            start = datetime.fromisoformat(rows[i]["start"]).timestamp()
            reply = api.post("/api/lines/line2/counts", json={"count": made, "ts": start + 1, "id": f"numbers-{i}"})
            assert reply.status_code == 201, reply.text
    return server.get("/api/lines/line2/board")["rows"]


def test_current_row_shows_plan_so_far_and_the_big_delta_is_its_cum_delta(server: RealServer, page: Any) -> None:
    rows = seed(server)
    current = rows[4]
    assert (current["start"], current["current"]) == ("2026-11-25T04:00:00+00:00", True)
    open_live(page, server.url + "/board/line2")
    start = current["start"]
    page.wait_for_selector(f'tr.row.current[data-start="{start}"]')
    shown = {col: cell(page, start, col) for col in ("planned", "actual", "delta", "cum_planned", "cum_actual",
                                                     "cum_delta", "status")}
    assert shown == {
        "planned": "60 / 120", "actual": "60", "delta": "0",
        "cum_planned": "540 / 600", "cum_actual": "543", "cum_delta": "+3",
        "status": "\u2714 on plan",
    }
    assert (page.inner_text("#plan"), page.inner_text("#actual"), page.inner_text("#delta")) == ("540", "543", "+3")
    # A finished row shows its plan alone.
    assert cell(page, rows[0]["start"], "planned") == "120"


def test_reason_is_asked_only_beyond_reason_behind(server: RealServer, page: Any) -> None:
    rows = server.get("/api/lines/line2/board")["rows"]
    assert [(r["delta"], r["reason_required"]) for r in rows[:5]] == [
        (3, False), (-1, False), (-2, True), (3, False), (0, False)]
    open_live(page, server.url + "/board/line2")
    buttons = [page.locator(f'tr.row[data-start="{r["start"]}"] .reason-btn').count() for r in rows[:5]]
    assert buttons == [0, 0, 1, 0, 0]  # one part short asks for nothing; two short asks for a reason
    assert cell(page, rows[1]["start"], "status") == "\u25B2 behind"


def test_condition_badge_shows_open_andon_calls(server: RealServer, page: Any, clock: ManualClock) -> None:
    open_live(page, server.url + "/board/line1")
    assert page.locator("#condition [data-andon]").count() == 0
    with server.client(OPERATOR_TOKEN) as api:
        call = api.post("/api/andons", json={"line": "line1", "station": "st9", "category": "quality"}).json()
    # The badges are redrawn on every state: read the words (shown upper case) from the page, not a handle.
    page.wait_for_selector('#condition .cond.andon[data-andon="raised"]', timeout=3000)
    assert page.text_content("#condition .cond.andon") == "\u2691 andon waiting"
    assert page.text_content("#condition .cond:not(.andon)") == "\u2716 abnormal"
    clock.advance(3600)  # line1's supervisor tier is due after an hour; the server escalates on its tick
    page.wait_for_selector('#condition .cond.andon[data-andon="escalated"]', timeout=5000)
    assert page.text_content("#condition .cond.andon") == "\u2691 andon escalated"
    assert server.get(f"/api/andons/{call['id']}")["tier"] == "supervisor"
    # Red like the stack light's escalated pattern, laid beside the condition, which keeps its own word.
    red = page.evaluate("(() => { const d = document.createElement('span'); d.className = 'cond abnormal';"
                        " document.body.append(d); const c = getComputedStyle(d).backgroundColor; d.remove();"
                        " return c; })()")
    assert page.evaluate("getComputedStyle(document.querySelector('#condition .cond.andon')).backgroundColor") == red
    assert page.text_content("#condition .cond:not(.andon)") == "\u2716 abnormal"
    with server.client(OPERATOR_TOKEN) as api:
        api.post(f"/api/andons/{call['id']}/resolve", json={})
    page.wait_for_selector("#condition .cond.andon", state="detached", timeout=3000)
