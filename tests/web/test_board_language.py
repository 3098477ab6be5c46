"""The board and the andon panel in another language, in real Chromium: the server's marks and the words the shared
script builds (condition words, statuses, category buttons) come from the page's catalog, data stays as written.

The plant's clock stands at 04:30 UTC in line1's am shift: its first hour (3600 planned at a one-second takt) is
over with nothing made, so that row is missed, and the hour in progress is far behind.
"""

from __future__ import annotations

from typing import Any

from tests.servers import RealServer
from tests.web.conftest import ARTIFACTS
from tests.web.test_pages import open_live

FIRST_HOUR = "2026-11-25T00:00:00+00:00"
CURRENT_HOUR = "2026-11-25T04:00:00+00:00"


def texts(page: Any, selector: str) -> list[str]:
    """The text of every element matching ``selector``, as written (before CSS upper-cases it)."""
    found: list[str] = page.eval_on_selector_all(selector, "nodes => nodes.map((n) => n.textContent.trim())")
    return found


def test_the_board_speaks_german(server: RealServer, page: Any) -> None:
    board = server.get("/api/lines/line1/board")
    rows = {r["start"]: r for r in board["rows"]}
    assert (rows[FIRST_HOUR]["condition"], rows[FIRST_HOUR]["current"]) == ("abnormal", False)
    assert (rows[CURRENT_HOUR]["condition"], rows[CURRENT_HOUR]["current"]) == ("abnormal", True)
    assert server.get("/api/lines/line1/state")["condition"] == "abnormal"

    open_live(page, server.url + "/board/line1?lang=de")
    page.wait_for_selector(f'tr.row[data-start="{FIRST_HOUR}"]')
    assert page.evaluate("document.documentElement.lang") == "de"
    # The words of the HTML, filled by the server.
    assert texts(page, "#board thead th") == [
        "Stunde", "Produkt", "Soll", "Ist", "Delta", "Soll kum.", "Ist kum.", "Delta kum.", "Ausschuss", "Status",
        "Grund / Problem"]
    assert texts(page, ".figs .fig > span") == ["Zustand", "Takt", "Soll bisher", "Ist", "Delta", "Schichtziel"]
    assert page.get_attribute("#andons", "aria-label") == "Offene Andon-Rufe"
    assert texts(page, "nav a") == ["Start", "Werk", "Andon", "Probleme", "CSV"]
    # The words the script builds: a row's status, the line's condition, the reason button, the takt's unit.
    status = f'tr.row[data-start="{FIRST_HOUR}"] [data-col="status"]'
    assert page.text_content(status) == "\u2716 verfehlt"
    assert page.text_content(f'tr.row[data-start="{CURRENT_HOUR}"] [data-col="status"]') == "\u2716 weit im Rückstand"
    assert page.text_content("#condition .cond:not(.andon)") == "\u2716 Störung"
    assert page.text_content(f'tr.row[data-start="{FIRST_HOUR}"] .reason-btn') == "\u270E Grund"
    assert page.text_content("#takt") == "1.0 s"
    assert page.title() == "Assembly 1 \u2014 Board"  # the line's name is data: as configured
    # The figures are numbers, not words: as in English.
    assert page.text_content("#plan") == str(server.get("/api/lines/line1/state")["plan_to_date"])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "board-de.png"), full_page=True)


def test_the_andon_panel_speaks_polish(server: RealServer, page: Any) -> None:
    open_live(page, server.url + "/andon?line=line1&station=st1&lang=pl")
    page.wait_for_selector("#panel:not([hidden]) #categories .cat-btn")
    assert page.evaluate("document.documentElement.lang") == "pl"
    # The built-in categories in Polish; the button still raises the category's id.
    assert texts(page, "#categories .cat-btn .label") == [
        "jakość", "materiał", "utrzymanie ruchu", "bezpieczeństwo", "pomoc"]
    assert [page.get_attribute(f"#categories .cat-btn:nth-child({i})", "data-category") for i in range(1, 6)] == [
        "quality", "material", "maintenance", "safety", "help"]
    assert texts(page, "#panel h2") == [
        "Co teraz produkuje linia? (token przełożonego)", "Wezwij pomoc", "Otwarte wezwania na tym stanowisku"]
    assert page.text_content("#calls") == "brak"
    assert page.text_content("#why-open") == "Dlaczego był postój?"
    assert page.text_content("#schedule-toggle") == "\u25A0 Od teraz poza planem"
    assert page.text_content("#title") == "\u2691 Assembly 1 \u00B7 stanowisko st1"
    assert page.get_attribute("#settings-link", "aria-label") == "Ustawienia tego tabletu"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "andon-pl.png"), full_page=True)
    page.click("#settings-link")
    page.wait_for_selector("#settings:not([hidden])")
    assert page.text_content("#token-state") == "nieustawiony"
    assert texts(page, "#settings dt") == ["Linia", "Stanowisko", "Token urządzenia"]


def test_the_servers_reasons_are_said_in_the_pages_language(server: RealServer, page: Any) -> None:
    """The state's reason is the server's English words; the plant page says its known phrases in German."""
    reasons = {x["id"]: x["state"]["reason"] for x in server.get("/api/lines")}
    german = {"line stopped": "Linie steht", "no shift": "keine Schicht", "on plan": "im Plan"}
    assert reasons and set(reasons.values()) <= set(german), reasons  # the clock puts every line in one of these
    open_live(page, server.url + "/plant?lang=de")
    for line, reason in reasons.items():
        page.wait_for_selector(f'.tile[data-line="{line}"] .reason')
        assert page.inner_text(f'.tile[data-line="{line}"] .reason').strip() == german[reason]
    shown = page.evaluate("""() => [Andon.reasonText("12 behind"), Andon.reasonText("changeover; on plan"),
        Andon.reasonText("connecting to plc1; PLC 10.0.0.9 refused"), Andon.reasonText("no data from scale")]""")
    assert shown == ["12 im Rückstand", "Umrüsten; im Plan", "verbinde mit plc1; PLC 10.0.0.9 refused",
                     "keine Daten von scale"]
