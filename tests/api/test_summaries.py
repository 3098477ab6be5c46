"""Trend summaries: days without data are null (never 0 %), open andon calls count with their age so far."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from andon.clock import ManualClock
from tests.api.api_fixtures import api
from tests.core.engine_fixtures import utc

# One weekday shift 06:00-14:00 UTC at a 60 s takt (480 a shift); 2026-11-26 is a Thursday.
WEEKDAYS = """
plant: {{name: Test Plant, timezone: UTC}}
database: sqlite:///{db}
shifts:
  - {{id: day, start: "06:00", end: "14:00", days: [mon, tue, wed, thu, fri]}}
lines:
  - id: line1
    takt_seconds: 60
    sources: [{{type: http, id: http}}]
    andon:
      categories: [quality, material]
      escalation: [{{tier: team_leader, after_seconds: 0}}]
"""
FIGURES = ("shifts", "planned", "actual", "attainment", "scrap", "downtime_minutes")
NO_DATA = {"shifts": 0, "planned": None, "actual": None, "attainment": None, "scrap": None, "downtime_minutes": None}


def figures(period: dict[str, Any]) -> dict[str, Any]:
    return {k: period[k] for k in FIGURES}


def first_shift_with_andons(client: TestClient, clock: ManualClock) -> None:
    """The line's first data: one part a minute 06:00:30-06:59:30 on Thursday, then three andon calls."""
    clock.set(utc("2026-11-26 07:00"))
    for minute in range(60):
        ts = utc("2026-11-26 06:00") + minute * 60 + 30
        assert client.post("/api/lines/line1/counts", json={"count": 1, "ts": ts}).status_code == 201
    a = client.post("/api/andons", json={"line": "line1", "station": "s1", "category": "quality"}).json()["id"]
    clock.advance(40)
    client.post(f"/api/andons/{a}/acknowledge")
    clock.advance(60)
    client.post(f"/api/andons/{a}/resolve")  # answered after 40 s, resolved after 100 s
    clock.set(utc("2026-11-26 07:02"))
    client.post("/api/andons", json={"line": "line1", "station": "s2", "category": "material"})  # never answered
    clock.set(utc("2026-11-26 07:03"))
    c = client.post("/api/andons", json={"line": "line1", "station": "s3", "category": "quality"}).json()["id"]
    clock.advance(20)
    client.post(f"/api/andons/{c}/acknowledge")  # answered after 20 s, still open


def test_open_calls_count_with_their_age_and_a_day_before_the_first_count_has_no_data(tmp_path: Path) -> None:
    clock = ManualClock(utc("2026-11-26 05:00"))
    with api(tmp_path, clock, text=WEEKDAYS) as client:
        first_shift_with_andons(client, clock)
        clock.set(utc("2026-11-26 07:10"))
        wed, thu = client.get("/api/summary/daily?line=line1&days=2").json()
    assert (wed["period"], figures(wed), wed["andon"]) == ("2026-11-25", NO_DATA, {})
    # Plan to 07:10 is 70; the only stop is 06:59:30 -> 07:10:00 (10.5 min, at least 3 takts).
    assert figures(thu) == {"shifts": 1, "planned": 70, "actual": 60, "attainment": 0.8571, "scrap": 0,
                            "downtime_minutes": 10.5}
    assert thu["andon"] == {
        # The material call waits since 07:02: 480 s so far, for response and resolution alike.
        "material": {"count": 1, "open": 1, "unacknowledged": 1, "mean_response_s": 480.0, "p90_response_s": 480.0,
                     "mean_resolution_s": 480.0, "p90_resolution_s": 480.0},
        # Responses 40 s and 20 s; resolutions 100 s and, still open since 07:03, 420 s so far.
        "quality": {"count": 2, "open": 1, "unacknowledged": 0, "mean_response_s": 30.0, "p90_response_s": 40.0,
                    "mean_resolution_s": 260.0, "p90_resolution_s": 420.0},
    }


def test_days_without_a_shift_or_before_the_first_count_are_null_not_zero(tmp_path: Path) -> None:
    clock = ManualClock(utc("2026-11-26 05:00"))
    with api(tmp_path, clock, text=WEEKDAYS) as client:
        first_shift_with_andons(client, clock)
        clock.set(utc("2026-11-28 10:00"))  # Saturday
        days = client.get("/api/summary/daily?line=line1&days=4").json()
        weeks = client.get("/api/summary/weekly?line=line1&weeks=2").json()
    assert [(d["period"], figures(d)) for d in days] == [
        ("2026-11-25", NO_DATA),  # Wednesday: scheduled, but before the line's first count
        # Thursday: 60 made of 480; stopped from 06:59:30 to the shift end 14:00 (420.5 min).
        ("2026-11-26", {"shifts": 1, "planned": 480, "actual": 60, "attainment": 0.125, "scrap": 0,
                        "downtime_minutes": 420.5}),
        # Friday: watched and nothing made, so a true 0 % and the whole shift down.
        ("2026-11-27", {"shifts": 1, "planned": 480, "actual": 0, "attainment": 0.0, "scrap": 0,
                        "downtime_minutes": 480.0}),
        ("2026-11-28", NO_DATA),  # Saturday: no shift
    ]
    # The material call raised Thursday 07:02 still waits on Saturday 10:00: 2 d 2 h 58 min so far.
    material = days[1]["andon"]["material"]
    assert (material["open"], material["mean_response_s"]) == (1, 2 * 86400 + 2 * 3600 + 58 * 60)
    assert [(w["period"], figures(w)) for w in weeks] == [
        ("2026-W47", NO_DATA),
        ("2026-W48", {"shifts": 2, "planned": 960, "actual": 60, "attainment": 0.0625, "scrap": 0,
                      "downtime_minutes": 900.5}),
    ]


def test_a_line_that_never_counted_has_no_data_yet(tmp_path: Path) -> None:
    with api(tmp_path, ManualClock(utc("2026-11-26 10:00")), text=WEEKDAYS) as client:
        (today,) = client.get("/api/summary/daily?line=line1&days=1").json()
    assert figures(today) == NO_DATA
