"""The pages read at a distance and fit every screen: phone, tablet, full-HD and 4K TV, in real Chromium.

The distance rule (docs/display.md): text reads at distance d when its capitals are at least 16
minutes of arc high (ISO 9241-3's minimum character height, about d / 215). On a 55-inch 16:9
screen, 5 m needs capitals of 23.3 mm, which the test works out in pixels for each screen height.
Heights are measured twice: from the font's metrics in the page, and from the ink in a screenshot.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from typing import Any

import pygame
import pytest

from tests.servers import RealServer
from tests.web.conftest import ARTIFACTS, OPERATOR_TOKEN, SUPERVISOR_TOKEN
from tests.web.test_pages import enter_token, open_live, seed_line2

PHONE, TABLET, FULL_HD, UHD = (390, 844), (1280, 800), (1920, 1080), (3840, 2160)
SIZES = {"phone": PHONE, "tablet": TABLET, "tv": FULL_HD, "tv4k": UHD}
PAGES = {
    "home": "/", "board": "/board/line2", "board-line1": "/board/line1", "plant": "/plant",
    "andon": "/andon?line=line1&station=st9", "andon-setup": "/andon?line=line1", "andon-free": "/andon?line=line2",
    "andon-settings": "/andon?line=line1&station=st1#settings", "problems": "/problems", "trends": "/trends",
}


def cap_px_for(distance_m: float, screen_height_px: int, diagonal_in: float = 55.0) -> float:
    """Capital height in pixels that reads at ``distance_m`` on a 16:9 screen (16 minutes of arc)."""
    height_mm = diagonal_in * 25.4 * 9 / math.hypot(16, 9)
    cap_mm = distance_m * 1000 * math.tan(math.radians(16 / 60))
    return cap_mm / (height_mm / screen_height_px)


def test_the_distance_rule_in_pixels() -> None:
    # 55-inch 16:9: 684.9 mm high; 16' at 5 m is 23.27 mm: 36.7 px at 1080 lines, 73.4 at 2160.
    assert round(cap_px_for(5, 1080), 1) == 36.7
    assert round(cap_px_for(5, 2160), 1) == 73.4
    assert round(cap_px_for(10, 1080), 1) == 73.4


# What is clipped or off the screen: text boxes whose content is wider than the box (or taller, where the
# box hides its overflow), boxes reaching past the viewport's right edge (but for those in a box that
# scrolls sideways, such as the problem log's wide table on a phone), and a page that scrolls sideways.
CLIPPED = """() => {
  const bad = [];
  const say = (n, why) => bad.push(why + ": <" + n.tagName.toLowerCase() + (n.id ? "#" + n.id : "") +
    (n.className && typeof n.className === "string" ? "." + n.className.trim().replace(/ +/g, ".") : "") + "> " +
    JSON.stringify(n.textContent.trim().slice(0, 40)));
  const scroller = (n) => {
    for (let a = n.parentElement; a; a = a.parentElement) {
      const o = getComputedStyle(a).overflowX;
      if (o === "auto" || o === "scroll") return true;
    }
    return false;
  };
  for (const n of document.querySelectorAll("body *")) {
    if (n.closest("svg, script, style, select, textarea, dialog:not([open])") || n.tagName === "INPUT") continue;
    const st = getComputedStyle(n);
    if (st.display === "inline" || st.display === "contents" || !n.getClientRects().length) continue;
    if (!n.textContent.trim()) continue;
    if (st.overflowX === "auto" || st.overflowX === "scroll") continue;  // scrolls, does not clip
    if (n.scrollWidth > n.clientWidth + 1) say(n, "too wide " + n.scrollWidth + ">" + n.clientWidth);
    if (st.overflowY === "hidden" && n.scrollHeight > n.clientHeight + 1) say(n, "too tall");
    const r = n.getBoundingClientRect();
    if (r.right > innerWidth + 1 && !scroller(n)) say(n, "past the right edge");
  }
  if (document.documentElement.scrollWidth > innerWidth) bad.push("the page scrolls sideways");
  return bad;
}"""

# The capital height of an element's font (from the font's metrics) and its box.
CAP = """(sel) => Array.from(document.querySelectorAll(sel)).filter((n) => n.getClientRects().length).map((n) => {
  const st = getComputedStyle(n);
  const ctx = document.createElement("canvas").getContext("2d");
  ctx.font = st.fontWeight + " " + st.fontSize + " " + st.fontFamily;
  const m = ctx.measureText("H");
  const r = n.getBoundingClientRect();
  return {cap: m.actualBoundingBoxAscent, top: r.top, bottom: r.bottom, left: r.left, right: r.right,
          text: n.textContent.trim()};
})"""


def ink_height(png: bytes) -> int:
    """Return how many pixel rows of a screenshot hold bright ink (text on the dark theme)."""
    surface = pygame.image.load(io.BytesIO(png), "shot.png")
    w, h = surface.get_size()
    rows = [y for y in range(h) if any(max(surface.get_at((x, y))[:3]) > 150 for x in range(w))]
    return rows[-1] - rows[0] + 1 if rows else 0


@pytest.fixture(scope="module")
def seeded(server: RealServer) -> RealServer:
    """The module's plant with line2's shift filled in (hours met and missed, a reason, andon calls)."""
    seed_line2(server)
    return server


@pytest.fixture
def at(browser: Any) -> Iterator[Any]:
    """Open pages in a fresh context of a given viewport size: ``at((w, h))`` returns a page."""
    contexts: list[Any] = []

    def open_at(size: tuple[int, int]) -> Any:
        context = browser.new_context(viewport={"width": size[0], "height": size[1]})
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.js_errors = errors
        return page

    yield open_at
    for context in contexts:
        pages = context.pages
        context.close()
        for page in pages:
            assert page.js_errors == [], f"JavaScript errors on the page: {page.js_errors}"


def settle(page: Any) -> None:
    """Wait until the page's live stream is up, its fetches are done and one frame (the fits) has run."""
    page.wait_for_selector('body[data-live="up"]', timeout=5000)
    page.wait_for_load_state("networkidle")
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")


@pytest.mark.parametrize("size_name", list(SIZES))
def test_every_page_at_every_size_without_clipping(seeded: RealServer, at: Any, size_name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    size = SIZES[size_name]
    page = at(size)
    clipped = {}
    for name, path in PAGES.items():
        page.goto(seeded.url + path)
        if name == "andon-setup" or name == "andon-free":
            page.wait_for_selector("#setup:not([hidden])", timeout=5000)
            page.wait_for_load_state("networkidle")
        else:
            settle(page)
        if name == "trends":
            page.wait_for_selector("#attainment svg")
        page.screenshot(path=str(ARTIFACTS / f"{name}-{size[0]}x{size[1]}.png"), full_page=True)
        clipped[name] = page.evaluate(CLIPPED)
    found = {name: found for name, found in clipped.items() if found}
    assert found == {}, "\n".join(f"{name}: {line}" for name, lines in found.items() for line in lines)


@pytest.mark.parametrize(("size", "tv"), [
    (PHONE, False), (TABLET, False), (FULL_HD, True), (UHD, True), ((1920, 960), False),
])
def test_tv_mode_comes_with_a_full_screen_1080p_viewport(seeded: RealServer, at: Any, size: tuple[int, int],
                                                         tv: bool) -> None:
    page = at(size)
    for path in ("/board/line2", "/plant"):
        page.goto(seeded.url + path)
        settle(page)
        assert page.evaluate("document.documentElement.classList.contains('tv')") is tv
        page.goto(seeded.url + path + ("&" if "?" in path else "?") + ("tv=0" if tv else "tv=1"))
        settle(page)
        assert page.evaluate("document.documentElement.classList.contains('tv')") is not tv
    # Other pages never switch: TV mode is for the board and the plant wall.
    page.goto(seeded.url + "/problems")
    settle(page)
    assert page.evaluate("document.documentElement.classList.contains('tv')") is False


@pytest.mark.parametrize("size", [FULL_HD, UHD], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("line", ["line1", "line2"])
def test_tv_board_reads_from_across_the_floor(seeded: RealServer, at: Any, size: tuple[int, int], line: str) -> None:
    w, h = size
    page = at(size)
    page.goto(seeded.url + f"/board/{line}")
    settle(page)
    assert page.evaluate("document.documentElement.classList.contains('tv')") is True
    # Big figures: capitals at least 5 % of the screen height, by the font's metrics and by the ink.
    figures = page.evaluate(CAP, "#plan, #actual, #delta")
    assert [f["cap"] >= 0.05 * h for f in figures] == [True] * 3, figures
    for sel in ("#plan", "#actual", "#delta"):
        ink = ink_height(page.locator(sel).screenshot())
        assert ink >= 0.05 * h, (sel, ink)
    # Table text: readable at 5 m on a 55-inch screen (36.7 px capitals at 1080 lines, 73.4 at 2160).
    need = cap_px_for(5, h)
    cells = page.evaluate(CAP, "tbody tr.row td[data-col=hour], tbody tr.row td[data-col=planned], "
                               "tbody tr.row td[data-col=actual], tbody tr.row td[data-col=delta], "
                               "tbody tr.row td[data-col=cum_delta], tbody tr.row td.status, tbody .reason-text")
    assert len(cells) >= 6 * 6
    small = [c for c in cells if c["cap"] < need]
    assert small == [], f"table text under {need:.1f} px capitals"
    planned = page.locator("tbody tr.row:not(.current):not([hidden]) td[data-col=planned]").first
    assert ink_height(planned.screenshot()) >= need
    # The page fills the screen and does not scroll: the table reaches the bottom quarter, every row shown
    # is whole, and the current hour is among them.
    layout = page.evaluate("""() => {
      const rows = [...document.querySelectorAll('tbody tr.row')].filter((r) => !r.hidden);
      const last = rows[rows.length - 1].getBoundingClientRect();
      return {scroll: document.documentElement.scrollHeight, bottom: last.bottom, shown: rows.length,
              all: document.querySelectorAll('tbody tr.row').length,
              current: rows.some((r) => r.classList.contains('current')),
              note: document.getElementById('rows-hidden').textContent};
    }""")
    assert layout["scroll"] <= h and layout["bottom"] <= h
    assert layout["bottom"] >= 0.75 * h, layout
    assert layout["current"] is True
    hidden = layout["all"] - layout["shown"]
    assert (hidden == 0) == (layout["note"] == ""), layout
    assert page.evaluate(CLIPPED) == []
    page.screenshot(path=str(ARTIFACTS / f"board-{line}-tv-{w}x{h}.png"))


def test_phone_board_shows_and_takes_reasons(seeded: RealServer, at: Any) -> None:
    page = at(PHONE)
    open_live(page, seeded.url + "/board/line2")
    reason = page.locator("tbody .reason-text").first
    assert reason.inner_text() == "Label printer out of ribbon"
    box = reason.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE[0] and box["height"] > 0
    assert reason.is_visible() and page.locator("tbody a.pstatus").first.is_visible()
    assert page.evaluate(CLIPPED) == []

    # A missed row on line1: the reason button is on screen, the form fits, and the reason is saved.
    open_live(page, seeded.url + "/board/line1")
    start = seeded.get("/api/lines/line1/board")["rows"][0]["start"]
    row = page.locator(f'tr.row[data-start="{start}"]')
    button = row.locator(".reason-btn")
    b = button.bounding_box()
    assert b["x"] >= 0 and b["x"] + b["width"] <= PHONE[0] and b["height"] >= 40
    button.click()
    field = row.locator('input[name="reason"]')
    f = field.bounding_box()
    assert f["x"] >= 0 and f["x"] + f["width"] <= PHONE[0] and f["width"] >= 200
    save = row.locator('button[value="save"]')
    s = save.bounding_box()
    assert s["x"] >= 0 and s["x"] + s["width"] <= PHONE[0]
    page.screenshot(path=str(ARTIFACTS / "board-reason-entry-390x844.png"), full_page=True)
    field.fill("Robot gripper fault")
    save.click()
    enter_token(page, SUPERVISOR_TOKEN)
    page.wait_for_selector(f'tr.row[data-start="{start}"] .reason-text', timeout=3000)
    assert row.locator(".reason-text").inner_text() == "Robot gripper fault"
    assert seeded.get("/api/lines/line1/board")["rows"][0]["reason"] == "Robot gripper fault"


def test_tablet_offers_the_configured_stations(seeded: RealServer, at: Any) -> None:
    page = at(TABLET)
    page.goto(seeded.url + "/andon?line=line1")
    page.wait_for_selector("#setup-stations .pick")
    picks = page.locator("#setup-stations .pick")
    assert [picks.nth(i).get_attribute("data-id") for i in range(picks.count())] == ["st1", "st7", "st9"]
    assert [picks.nth(i).locator(".label").inner_text() for i in range(3)] == ["st1", "st7", "Paint booth"]
    assert page.locator("#setup-form").is_hidden()  # no free text where stations are configured
    assert all(picks.nth(i).bounding_box()["height"] >= 80 for i in range(3))  # big enough for a gloved finger
    picks.nth(2).click()
    page.wait_for_selector("#panel:not([hidden])")
    assert page.url.endswith("/andon?line=line1&station=st9")
    assert page.inner_text("#title") == "\u2691 Assembly 1 \u00B7 Paint booth"

    # A station typed into the address that the line does not have: no panel, the stations to pick from.
    page.goto(seeded.url + "/andon?line=line1&station=st5")
    page.wait_for_selector("#setup:not([hidden]) #setup-stations .pick")
    assert page.is_hidden("#panel")
    assert page.inner_text("#message") == "Station st5 is not one of Assembly 1's stations: pick one"

    # A line without configured stations keeps the free-text field.
    page.goto(seeded.url + "/andon?line=line2")
    page.wait_for_selector("#setup-form:not([hidden])")
    assert page.locator("#setup-stations .pick").count() == 0

    # The API refuses the unknown station with a 422 that says which ones there are.
    with seeded.client(OPERATOR_TOKEN) as api:
        reply = api.post("/api/andons", json={"line": "line1", "station": "st5", "category": "quality"})
        assert reply.status_code == 422
        assert reply.json()["detail"] == "line 'line1' has no station 'st5'; it has ['st1', 'st7', 'st9']"
        ok = api.post("/api/andons", json={"line": "line1", "station": "st9", "category": "help"})
        assert ok.status_code == 201 and ok.json()["station"] == "st9"
        api.post(f"/api/andons/{ok.json()['id']}/resolve", json={})
        free = api.post("/api/andons", json={"line": "line2", "station": "bench 4", "category": "help"})
        assert free.status_code == 201
        api.post(f"/api/andons/{free.json()['id']}/resolve", json={})
    lines = seeded.get("/api/lines")
    assert [(x["id"], x["andon_stations"]) for x in lines] == [
        ("line1", [{"id": "st1", "name": "st1"}, {"id": "st7", "name": "st7"}, {"id": "st9", "name": "Paint booth"}]),
        ("line2", []),
    ]


@pytest.mark.parametrize("size", [PHONE, TABLET], ids=lambda s: f"{s[0]}x{s[1]}")
def test_token_lives_behind_settings(seeded: RealServer, at: Any, size: tuple[int, int]) -> None:
    page = at(size)
    open_live(page, seeded.url + "/andon?line=line1&station=st1")
    assert page.is_visible("button[data-category=maintenance]")
    assert page.is_hidden("#token-set") and page.is_hidden("#token-clear") and page.is_hidden("#settings")
    # Every category label is whole: the longest one shrinks to its button instead of being cut.
    labels = page.evaluate("""() => [...document.querySelectorAll('.cat-btn')].map((b) => {
      const l = b.querySelector('.label'), lb = l.getBoundingClientRect(), bb = b.getBoundingClientRect();
      return [l.textContent, l.scrollWidth <= l.clientWidth && lb.left >= bb.left && lb.right <= bb.right];
    })""")
    assert labels == [[c, True] for c in ("quality", "material", "maintenance", "safety", "help")]
    page.click("#settings-link")
    page.wait_for_selector("#settings:not([hidden])")
    assert page.is_hidden("#panel")
    assert page.inner_text("#token-state") == "not set"
    assert page.inner_text("#set-station") == "st1"
    page.click("#token-set")
    enter_token(page, OPERATOR_TOKEN)
    page.wait_for_function("document.getElementById('token-state').textContent === 'set \u2714'")
    assert page.evaluate(CLIPPED) == []
    page.screenshot(path=str(ARTIFACTS / f"andon-settings-open-{size[0]}x{size[1]}.png"), full_page=True)
    page.click("#settings-done")
    page.wait_for_selector("#panel:not([hidden])")
    assert page.is_hidden("#settings")
    assert page.evaluate("localStorage.getItem('andon.token')") == OPERATOR_TOKEN
