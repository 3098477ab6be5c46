"""The SQDC board: a day's S, Q, D and C per area, red with the facts behind it, from the daily summaries."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from andon.clock import ManualClock
from tests.api.api_fixtures import api
from tests.core.engine_fixtures import utc

# One weekday shift, UTC, takt 60 s (480 a shift); 2026-11-26 is a Thursday.
PLANT = """
plant: {{name: Test Plant, timezone: UTC}}
database: sqlite:///{db}
shifts:
  - {{id: day, start: "06:00", end: "14:00", days: [mon, tue, wed, thu, fri]}}
lines:
  - {{id: line1, takt_seconds: 60, sources: [{{type: http, id: http}}],
     andon: {{categories: [safety, quality], escalation: [{{tier: team_leader, after_seconds: 0}}]}}}}
  - {{id: line2, takt_seconds: 60, sources: [{{type: http, id: http}}],
     andon: {{categories: [safety, quality], escalation: [{{tier: team_leader, after_seconds: 0}}]}}}}
  - {{id: line3, takt_seconds: 60, sources: [{{type: http, id: http}}]}}
areas:
  - {{id: assembly, name: Assembly, lines: [line1, line2], leader: Kim}}
  - {{id: paint, lines: [line3]}}
"""

RULES = {
    "S": "red when an andon call of category safety was raised",
    "Q": "red when scrap / (good + scrap) is above 2.00%",
    "D": "red when actual / planned is below 100%",
    "C": "red when a line lost more than 60 minutes to stops",
}


def produce(client: TestClient, line: str, start: str, end: str, scrap: int = 0) -> None:
    """Two good parts every two minutes from ``start`` up to ``end`` (no gap makes a stop), then the scrap."""
    plant = client.services.plant  # type: ignore[attr-defined]
    t = utc(start)
    while t < utc(end):
        plant.intake(line, "http", 2, ts=t, event_id=f"{line}-{t}", increment=True)
        t += 120
    if scrap:
        plant.intake(line, "http", scrap, ts=utc(end) - 60, kind="scrap", increment=True)
    plant.writer.flush()


def test_a_month_of_sqdc_marks_the_red_days_with_their_facts(tmp_path: Path) -> None:
    clock = ManualClock(utc("2026-11-26 14:00"))
    with api(tmp_path, clock, text=PLANT) as client:
        produce(client, "line1", "2026-11-26 06:00", "2026-11-26 14:00", scrap=5)  # 480 good, 5 scrap: all green
        produce(client, "line2", "2026-11-26 06:00", "2026-11-26 12:00", scrap=20)  # 360: short, scrap, 122 min down
        clock.set(utc("2026-11-26 10:00"))
        assert client.post("/api/andons", json={"line": "line2", "station": "st1", "category": "safety"}).status_code \
            == 201
        assert client.post("/api/andons", json={"line": "line1", "station": "st1", "category": "quality"}).status_code \
            == 201  # not a safety call: S stays green
        clock.set(utc("2026-11-27 12:00"))
        produce(client, "line1", "2026-11-27 06:00", "2026-11-27 12:00")
        produce(client, "line2", "2026-11-27 06:00", "2026-11-27 12:00")

        r = client.get("/api/sqdc?area=assembly&month=2026-11")
        assert r.status_code == 200, r.text
        board = r.json()
        assert {k: board[k] for k in ("area", "name", "month", "today", "lines", "rules")} == {
            "area": "assembly", "name": "Assembly", "month": "2026-11", "today": "2026-11-27",
            "lines": ["line1", "line2"], "rules": RULES,
        }
        days = {d["date"]: d for d in board["days"]}
        assert len(days) == 30
        letters = {d: (v["S"], v["Q"], v["D"], v["C"]) for d, v in days.items()}
        none = ("none",) * 4
        # Before the lines' first count and after today: no data; the weekend 28-29 has no shift either.
        assert {d: v for d, v in letters.items() if d not in ("2026-11-26", "2026-11-27")} == {
            f"2026-11-{n:02d}": none for n in range(1, 31) if n not in (26, 27)
        }
        assert letters["2026-11-26"] == ("red", "red", "red", "red")
        assert days["2026-11-26"]["red"] == {
            "S": [{"line": "line2", "safety_calls": 1}],
            "Q": [{"line": "line2", "good": 360, "scrap": 20, "scrap_rate": 0.0526}],
            "D": [{"line": "line2", "planned": 480, "actual": 360, "attainment": 0.75}],
            "C": [{"line": "line2", "downtime_minutes": 122.0}],
        }
        # Today so far (12:00): both lines on plan, no stop, parts made without scrap: all green.
        assert (letters["2026-11-27"], days["2026-11-27"]["red"]) == (("green", "green", "green", "green"), {})

        # The daily summary gives the same facts the board judged.
        summary = {d["period"]: d for d in client.get("/api/summary/daily?line=line2&days=2").json()}
        assert (summary["2026-11-26"]["actual"], summary["2026-11-26"]["scrap"],
                summary["2026-11-26"]["downtime_minutes"]) == (360, 20, 122.0)

        # The plant: every line; an area without data: all none.
        plant = client.get("/api/sqdc?month=2026-11").json()
        assert (plant["area"], plant["name"], plant["lines"]) == (None, "Test Plant", ["line1", "line2", "line3"])
        assert {d["date"]: (d["S"], d["Q"], d["D"], d["C"]) for d in plant["days"]} == letters
        one = client.get("/api/sqdc?line=line2&month=2026-11").json()  # a tier 1 board: one line
        assert (one["area"], one["lines"], next(d for d in one["days"] if d["date"] == "2026-11-26")["red"]["D"]) == (
            None, ["line2"], [{"line": "line2", "planned": 480, "actual": 360, "attainment": 0.75}])
        assert client.get("/api/sqdc?line=nope").status_code == 404
        assert client.get("/api/sqdc?line=line1&area=assembly").status_code == 422
        assert client.get("/api/areas").json() == [
            {"id": "assembly", "name": "Assembly", "leader": "Kim", "lines": ["line1", "line2"]},
            {"id": "paint", "name": "paint", "leader": None, "lines": ["line3"]},
        ]
        paint = client.get("/api/sqdc?area=paint&month=2026-11").json()
        assert {(d["S"], d["Q"], d["D"], d["C"]) for d in paint["days"]} == {none}
        # The default month is this month in plant time.
        assert client.get("/api/sqdc?area=assembly").json()["month"] == "2026-11"


def test_sqdc_rules_come_from_the_config(tmp_path: Path) -> None:
    text = PLANT + "sqdc: {{max_scrap_rate: 0.1, min_attainment: 0.7, max_downtime_minutes: 180, " \
                   "safety_categories: [quality]}}\n"
    clock = ManualClock(utc("2026-11-26 14:00"))
    with api(tmp_path, clock, text=text) as client:
        produce(client, "line2", "2026-11-26 06:00", "2026-11-26 12:00", scrap=20)
        assert client.post("/api/andons", json={"line": "line2", "station": "st1", "category": "safety"}).status_code \
            == 201
        day = next(d for d in client.get("/api/sqdc?area=assembly&month=2026-11").json()["days"]
                   if d["date"] == "2026-11-26")
        # 5.26 % scrap <= 10 %, 75 % >= 70 %, 122 min <= 180; a "safety" call is not one of safety_categories here.
        assert (day["S"], day["Q"], day["D"], day["C"], day["red"]) == ("green", "green", "green", "green", {})
        board = client.get("/api/sqdc?area=assembly&month=2026-11").json()
        assert board["rule_values"] == {"S": {"categories": ["quality"]}, "Q": {"max_scrap_rate": 0.1},
                                        "D": {"min_attainment": 0.7}, "C": {"max_downtime_minutes": 180}}
        assert board["rules"]["Q"] == "red when scrap / (good + scrap) is above 10.00%"


def test_bad_sqdc_requests_get_clear_errors(tmp_path: Path) -> None:
    clock = ManualClock(utc("2026-11-26 14:00"))
    with api(tmp_path, clock, text=PLANT) as client:
        r = client.get("/api/sqdc?area=nope")
        assert (r.status_code, r.json()["detail"]) == (404, "no area 'nope'")
        for month in ("2026-13", "2026-00", "26-11", "2026-1", "november", "0001-01"):
            r = client.get(f"/api/sqdc?month={month}")
            assert r.status_code == 422, (month, r.text)
