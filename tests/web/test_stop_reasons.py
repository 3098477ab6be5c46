"""The tablet's why-did-we-stop screen in real Chromium: a reason tapped there reaches the stop and the Pareto."""

from __future__ import annotations

from typing import Any

from tests.servers import RealServer
from tests.web.conftest import NOW, OPERATOR_TOKEN
from tests.web.test_pages import enter_token, open_live


def test_a_reason_picked_on_the_tablet_reaches_the_stop_and_the_pareto(server: RealServer, page: Any) -> None:
    with server.client(OPERATOR_TOKEN) as http:
        assert http.post("/api/lines/line1/counts", json={"ts": NOW - 600}).status_code == 201
    # Ten silent minutes at a one-second takt: one open stop since the count, unexplained, past reason_after.
    stops = server.get("/api/lines/line1/stops")
    open_stop = next(s for s in stops if s["open"])
    assert (open_stop["start"], open_stop["reason"], open_stop["needs_reason"]) == (
        "2026-11-25T04:20:00+00:00", None, True)

    open_live(page, server.url + "/andon?line=line1&station=st1")
    page.wait_for_selector("#stop-prompt:not([hidden])", timeout=5000)
    assert page.inner_text("#stop-prompt") == "? Why did we stop? since 04:20"
    page.click("#stop-prompt")
    page.wait_for_selector(f'#why-stops [data-stop-id="{open_stop["id"]}"].chosen', timeout=5000)
    page.click('#why-categories button[data-category="breakdown"]')
    page.click('#why-reasons button[data-reason="jam"]')
    enter_token(page, OPERATOR_TOKEN)
    page.wait_for_selector("#panel:not([hidden])", timeout=5000)

    stop = next(s for s in server.get("/api/lines/line1/stops") if s["id"] == open_stop["id"])
    assert (stop["reason"], stop["category"], stop["reason_by"]) == ("jam", "breakdown", "tablet-1")
    pareto = server.get("/api/losses?line=line1&from=2026-11-25&to=2026-11-25")
    jam = next(i for i in pareto["items"] if i["reason"] == "jam")
    assert (jam["occurrences"], jam["seconds"]) == (1, 600.0)
    # The prompt moves on to the stop still waiting: the silence from the shift start to the first count.
    page.wait_for_function("document.querySelector('#stop-prompt').textContent.endsWith('since 00:00')", timeout=5000)
