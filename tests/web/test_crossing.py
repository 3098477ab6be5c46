"""A fetch and a push crossing on the way to a page: the state read before a push never undoes it.

The board and the plant overview fetch a line's state when an andon message comes; the resolve's pushed
state can land while that fetch is still on its way with the state read before the resolve. Playwright
holds the fetch's answer (read from the real server) until the push has been shown, then lets it through.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import wait_until
from tests.servers import RealServer
from tests.web.conftest import OPERATOR_TOKEN


def settle(page: Any) -> None:
    """Let the page finish what a delivered answer starts (its JSON read and redraw) before looking."""
    page.evaluate("() => new Promise((done) => setTimeout(done, 250))")


@pytest.mark.parametrize(
    ("path", "chips"), [("/board/line1", "#andons .andon-chip"), ("/plant", '.tile[data-line="line1"] .andon-chip')]
)
def test_a_state_read_before_a_push_does_not_bring_back_a_resolved_call(
    server: RealServer, page: Any, path: str, chips: str
) -> None:
    page.goto(server.url + path)
    page.wait_for_selector('body[data-live="up"]', timeout=5000)
    page.wait_for_load_state("networkidle")
    held: list[tuple[Any, Any]] = []  # (route, the server's answer), in the order the page asked
    page.route("**/api/lines/line1/state", lambda route: held.append((route, route.fetch())))
    with server.client(OPERATOR_TOKEN) as api:
        reply = api.post("/api/andons", json={"line": "line1", "station": "st1", "category": "material"})
        assert reply.status_code == 201, reply.text
        chip = f'{chips}[data-andon-id="{reply.json()["id"]}"]'
        page.wait_for_selector(chip, timeout=5000)  # shown by the pushed state
        wait_until(lambda: page.evaluate("1") and len(held) >= 1, timeout=5)  # the andon message's fetch
        route, answer = held[0]
        assert [c["id"] for c in answer.json()["open_andons"]] == [reply.json()["id"]]  # read before the resolve
        assert api.post(f"/api/andons/{reply.json()['id']}/resolve", json={}).status_code == 200
    page.wait_for_selector(chip, state="detached", timeout=5000)  # the resolve's pushed state
    route.fulfill(response=answer)  # the older answer arrives now
    settle(page)
    assert page.locator(chips).count() == 0
    for later, later_answer in held[1:]:  # fetches the resolve asked for: read after it
        assert later_answer.json()["open_andons"] == []
        later.fulfill(response=later_answer)
    page.unroute("**/api/lines/line1/state")
    settle(page)
    assert page.locator(chips).count() == 0


def open_with_lists_held(server: RealServer, page: Any, path: str) -> list[tuple[Any, Any]]:
    """Open ``path`` with every whole-list answer held (the server's, read at once): (route, answer), in order."""
    held: list[tuple[Any, Any]] = []
    page.route("**/api/lines", lambda route: held.append((route, route.fetch())))
    page.goto(server.url + path)
    page.wait_for_selector('body[data-live="up"]', timeout=5000)
    wait_until(lambda: page.evaluate("1") and len(held) >= 2, timeout=5)  # the first load's and the connect's
    assert all(answer.json()[0]["state"]["open_andons"] == [] for _, answer in held)
    return held


@pytest.mark.parametrize(
    ("path", "chips"),
    [("/plant", '.tile[data-line="line1"] .andon-chip'), ("/", '#lines [data-line="line1"] .andon-chip')],
)
def test_a_list_read_before_a_push_does_not_undo_it(server: RealServer, page: Any, path: str, chips: str) -> None:
    """The overview's whole-list fetch (on load and on each connect) keeps a line pushed while it was on its way."""
    held = open_with_lists_held(server, page, path)
    first, answer = held.pop(0)
    first.fulfill(response=answer)  # the list is shown; the other answer is still on its way
    page.wait_for_selector('[data-line="line1"]', timeout=5000)
    with server.client(OPERATOR_TOKEN) as api:
        reply = api.post("/api/andons", json={"line": "line1", "station": "st7", "category": "quality"})
        assert reply.status_code == 201, reply.text
    page.wait_for_selector(chips, timeout=5000)  # the pushed state, shown while the later list is held
    for route, answer in held:
        route.fulfill(response=answer)
    page.unroute("**/api/lines")
    settle(page)
    assert page.locator(chips).count() == 1
    with server.client(OPERATOR_TOKEN) as api:  # leave the plant as found for the next test
        assert api.post(f"/api/andons/{reply.json()['id']}/resolve", json={}).status_code == 200


@pytest.mark.parametrize(
    ("path", "line", "shown_early"),
    [("/plant", '.tile[data-line="line1"]', 1), ("/", '#lines [data-line="line1"]', 0)],
)
def test_a_push_before_the_first_list_is_shown_is_not_lost(
    server: RealServer, page: Any, path: str, line: str, shown_early: int,
) -> None:
    """A state pushed for a line the page has not listed yet is the one shown when the older list comes."""
    held = open_with_lists_held(server, page, path)
    with server.client(OPERATOR_TOKEN) as api:
        reply = api.post("/api/andons", json={"line": "line1", "station": "st9", "category": "quality"})
        assert reply.status_code == 201, reply.text
        wait_until(lambda: page.evaluate("Andon.pushMarks().get('line1') || 0") >= 1, timeout=5)
        settle(page)
        assert page.locator(line).count() == shown_early  # the overview shows a pushed tile; the list has no place
        for route, answer in held:  # the lists read before the call arrive now
            route.fulfill(response=answer)
        page.unroute("**/api/lines")
        settle(page)
        chip = page.locator(f"{line} .andon-chip")
        assert chip.count() == 1
        if path == "/":
            assert chip.inner_text() == "\u2691 1 open"
        else:
            assert chip.get_attribute("data-andon-id") == str(reply.json()["id"])
        assert api.post(f"/api/andons/{reply.json()['id']}/resolve", json={}).status_code == 200
