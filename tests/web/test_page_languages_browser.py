"""Pages in another language in real Chromium: the words the server fills in and the words the page's script builds
once its data is in come from the device's language's catalog; the values sent to the API stay the API's words."""

from __future__ import annotations

from typing import Any

from tests.servers import RealServer
from tests.web.conftest import SUPERVISOR_TOKEN


def texts(page: Any, selector: str) -> list[str]:
    """Return the text of every element matching ``selector``, trimmed."""
    return [str(t).strip() for t in page.eval_on_selector_all(selector, "ns => ns.map(n => n.textContent)")]


def test_the_problem_log_in_spanish(server: RealServer, page: Any) -> None:
    with server.client(SUPERVISOR_TOKEN) as api:
        reply = api.post("/api/problems", json={"title": "Fuga en st7", "line": "line1", "owner": "Ana",
                                                "due_date": "2020-01-31"})
    assert reply.status_code == 201, reply.text
    problem_id = reply.json()["id"]
    page.goto(server.url + "/problems?lang=es")
    row = page.locator(f'tr.problem[data-problem-id="{problem_id}"]')
    row.wait_for(timeout=5000)

    assert page.evaluate("document.documentElement.lang") == "es"
    assert page.title() == "Registro de problemas"
    assert texts(page, "#problems thead th") == [
        "#", "Problema", "Responsable", "Fecha límite", "Estado PDCA", "Contramedida", "Causa raíz", ""]
    assert texts(page, "#filters button") == ["Filtrar"]
    assert texts(page, "#new-problem summary h2") == ["Nuevo problema"]
    # Built by the script from the problems read: the count, the overdue tag, the status words, the button.
    page.wait_for_function("() => document.getElementById('count').textContent !== ''", timeout=5000)
    assert page.inner_text("#count") == "problemas: 1, vencidos: 1"
    assert row.locator(".overdue-tag").inner_text() == "\u26A0 VENCIDO"
    assert row.locator("button.primary").inner_text() == "Guardar"
    status = row.locator('select[name="status"]')
    assert status.get_attribute("aria-label") == "Estado PDCA"
    assert status.input_value() == "open"  # the value the API takes stays its word
    assert texts(page, f'tr.problem[data-problem-id="{problem_id}"] select[name="status"] option') == [
        "abierto", "planificar", "hacer", "verificar", "actuar", "cerrado"]
    assert page.eval_on_selector_all("#f-status option", "os => os.map(o => o.value)") == [
        "", "open", "plan", "do", "check", "act", "closed"]
    assert texts(page, "#f-status option")[:2] == ["cualquiera", "abierto"]


def test_the_plant_tier_board_in_chinese(server: RealServer, page: Any) -> None:
    page.goto(server.url + "/tier/3?lang=zh-Hans")
    page.wait_for_selector("body[data-ready='1']", timeout=10_000)

    assert page.evaluate("document.documentElement.lang") == "zh-Hans"
    assert page.title() == "分层看板"
    assert texts(page, "header nav a") == ["首页", "工厂（第 3 层）", "问题", "趋势"]
    # Built by the script once the areas and the SQDC month are in.
    assert page.inner_text("#title") == "第 3 层 \u2014 工厂"
    assert texts(page, "#today h2") == ["今日各区域"]
    assert texts(page, "#today p.dim") == ["未配置区域（配置中的 areas:）；工厂的 SQDC 见下方。"]
    assert page.inner_text("#sqdc-title").startswith("SQDC \u2014 Web Test Plant，")
    assert page.eval_on_selector_all("#sqdc tbody th", "hs => hs.map(h => h.title)") == ["安全", "质量", "交付", "成本"]
    title = page.get_attribute("#sqdc td[data-letter='Q'][data-date='2026-11-01']", "title")
    assert title == "质量 2026-11-01：无数据"
    assert page.get_attribute("#sqdc td[data-letter='Q'][data-date='2026-11-01']", "data-colour") == "none"


def test_the_trends_in_german(server: RealServer, page: Any) -> None:
    page.goto(server.url + "/trends?lang=de")
    page.wait_for_selector("#oee svg", timeout=10_000)

    assert page.evaluate("document.documentElement.lang") == "de"
    assert page.title() == "Trends"
    assert texts(page, "main > h2") == [
        "Planerfüllung", "OEE", "Stillstandsverluste nach Grund (Pareto)", "Andon-Rufe nach Kategorie (Pareto)",
        "Andon-Reaktionszeiten nach Kategorie"]
    assert texts(page, "#f-period option") == ["täglich", "wöchentlich"]
    assert page.eval_on_selector_all("#f-period option", "os => os.map(o => o.value)") == ["daily", "weekly"]
    assert texts(page, "#filters button") == ["Anzeigen"]
    # Built by the script from the summaries read: the charts' titles, their "no data" marks, legends.
    assert page.get_attribute("#attainment svg", "aria-label") == "Planerfüllung je Zeitraum"
    assert page.get_attribute("#oee svg", "aria-label") == "OEE je Zeitraum"
    assert "keine Daten" in texts(page, "#attainment svg text.no-data")
    assert page.inner_text("#oee p.legend") == (
        "OEE = Verfügbarkeit \u00D7 Leistung \u00D7 Qualität; daneben die Verfügbarkeit.")
    assert page.inner_text("#pareto p.legend") == (
        "Rufe: 0. Balken: Rufe je Kategorie, größte zuerst; Linie: kumulierter Anteil.")
    # The OEE chart has bars (and its two series' names) or says it has no data yet: German words either way.
    assert {"Verfügbarkeit", "noch keine Daten"} & set(texts(page, "#oee svg text"))
    assert set(page.eval_on_selector_all("#oee svg rect[data-series]", "rs => rs.map(r => r.dataset.series)")) <= {
        "OEE", "availability"}  # the series' ids stay whatever the language


def test_the_sqdc_rules_are_worded_from_their_thresholds(server: RealServer, page: Any) -> None:
    """In English the page's words are the server's own; in Polish the same thresholds in Polish."""
    board = server.get("/api/sqdc?month=2026-11")
    page.goto(server.url + "/tier/3?lang=en")
    page.wait_for_selector("body[data-ready='1']", timeout=10_000)
    assert page.inner_text("#sqdc-rules") == " \u00B7 ".join(f"{k}: {v}" for k, v in board["rules"].items())
    page.goto(server.url + "/tier/3?lang=pl")
    page.wait_for_selector("body[data-ready='1']", timeout=10_000)
    v = board["rule_values"]
    categories = ", ".join({"safety": "bezpieczeństwo", "quality": "jakość"}.get(c, c) for c in v["S"]["categories"])
    assert page.inner_text("#sqdc-rules") == " \u00B7 ".join([
        f"S: czerwony, gdy zgłoszono wezwanie andon kategorii {categories or '(brak)'}",
        f"Q: czerwony, gdy braki / (dobre + braki) przekraczają {v['Q']['max_scrap_rate'] * 100:.2f}%",
        f"D: czerwony, gdy wykonanie / plan jest poniżej {v['D']['min_attainment'] * 100:.0f}%",
        f"C: czerwony, gdy linia straciła ponad {v['C']['max_downtime_minutes']:g} min na postojach",
    ])
