"""One meaning per number: the live state, the board JSON and the CSV agree on a real API and database."""

from __future__ import annotations

import csv
import io
import itertools
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from andon.andons import andon_signal
from andon.clock import ManualClock
from tests.api.api_fixtures import api, config_text
from tests.core.engine_fixtures import utc

DAY = date(2026, 11, 2)
# The test plant's shifts in UTC: early 06:00-14:00 (breaks 09:00-09:15, 11:30-12:00), late 14:00-22:00.
BREAKS = {"early": [(9 * 3600, 9 * 3600 + 900), (11.5 * 3600, 12 * 3600)], "late": []}


def planned_by_hand(shift: str, shift_start: float, now: float, day_start: float) -> int:
    """Return plan(now) at a 60 s takt: seconds since the shift start minus its breaks, floored to minutes."""
    seconds = now - shift_start
    for a, b in BREAKS[shift]:
        seconds -= max(0.0, min(now, day_start + b) - (day_start + a))
    return int(seconds // 60)


@st.composite
def moments(draw: st.DrawFn) -> tuple[float, list[tuple[float, int]]]:
    """Draw a moment in 06:00-22:00 and counts (time as a fraction of the day so far, parts)."""
    now = draw(st.integers(0, 16 * 3600 - 1)) + draw(st.sampled_from([0.0, 0.25, 0.999]))
    counts = draw(st.lists(st.tuples(st.floats(0, 1), st.integers(0, 90)), max_size=12))
    return now, counts


def test_state_and_board_agree_for_any_counts_at_any_moment(tmp_path: Path) -> None:
    clock = ManualClock(utc("2026-11-02 05:00"))
    days = itertools.count()
    with api(tmp_path, clock, text=config_text().replace("Europe/London", "UTC")) as client:

        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
        @given(moments())
        def check(case: tuple[float, list[tuple[float, int]]]) -> None:
            offset, counts = case
            day_start = utc(f"{DAY + timedelta(days=next(days)):%Y-%m-%d} 00:00")  # a fresh day each example
            now = day_start + 6 * 3600 + offset
            clock.set(now)
            for fraction, parts in counts:
                ts = day_start + 6 * 3600 + fraction * offset
                r = client.post("/api/lines/line1/counts", json={"count": parts, "ts": ts, "id": str(uuid.uuid4())})
                assert r.status_code == 201, r.text
            early = offset < 8 * 3600
            shift, shift_start = ("early", day_start + 6 * 3600) if early else ("late", day_start + 14 * 3600)
            made = sum(parts for fraction, parts in counts if day_start + 6 * 3600 + fraction * offset >= shift_start)
            state = client.get("/api/lines/line1/state").json()
            board = client.get("/api/lines/line1/board").json()
            assert (board["shift"], state["shift"]["id"]) == (shift, shift)
            rows = board["rows"]
            current = [r for r in rows if r["current"]]
            assert len(current) == 1
            row = current[0]
            plan = planned_by_hand(shift, shift_start, now, day_start)
            assert (state["plan_to_date"], state["actual_to_date"], state["delta"]) == (plan, made, made - plan)
            assert (row["cum_planned_so_far"], row["cum_actual"], row["cum_delta"]) == (plan, made, state["delta"])
            assert state["current_interval"] == {
                k: row[k] for k in ("start", "end", "planned", "planned_so_far", "actual", "delta", "condition")
            }
            assert sum(r["planned"] for r in rows) == board["shift_target"] == state["shift_target"] == rows[-1][
                "cum_planned"]
            cum_planned = cum_so_far = cum_actual = 0
            for r in rows:
                cum_planned += r["planned"]
                cum_so_far += r["planned_so_far"]
                assert (r["cum_planned"], r["cum_planned_so_far"]) == (cum_planned, cum_so_far)
                if r["actual"] is not None:
                    cum_actual += r["actual"]
                    assert r["delta"] == r["actual"] - r["planned_so_far"]
                    assert (r["cum_actual"], r["cum_delta"]) == (cum_actual, cum_actual - r["cum_planned_so_far"])
            csv_rows = list(csv.DictReader(io.StringIO(client.get("/api/lines/line1/board?format=csv").text)))
            for r, c in zip(rows, csv_rows, strict=True):
                for key in ("planned", "planned_so_far", "actual", "delta", "cum_planned", "cum_planned_so_far",
                            "cum_actual", "cum_delta"):
                    assert c[key] == ("" if r[key] is None else str(r[key]))
                flags = (str(r["current"]).lower(), str(r["reason_required"]).lower())
                assert (c["current"], c["reason_required"]) == flags

        check()


BERLIN_NIGHT = """
plant: {{name: Test Plant, timezone: Europe/Berlin}}
database: sqlite:///{db}
shifts:
  - {{id: night, start: "22:00", end: "06:00"}}
lines:
  - id: line1
    takt_seconds: 60
    sources: [{{type: http, id: http}}]
"""


# Each row: UTC start, UTC end, local start and its offset, local end and its offset (worked out by hand).
NIGHT_ROWS = [
    ("2026-10-24T20", "2026-10-24T21", "2026-10-24T22", "+02:00", "2026-10-24T23", "+02:00"),
    ("2026-10-24T21", "2026-10-24T22", "2026-10-24T23", "+02:00", "2026-10-25T00", "+02:00"),
    ("2026-10-24T22", "2026-10-24T23", "2026-10-25T00", "+02:00", "2026-10-25T01", "+02:00"),
    ("2026-10-24T23", "2026-10-25T00", "2026-10-25T01", "+02:00", "2026-10-25T02", "+02:00"),
    ("2026-10-25T00", "2026-10-25T01", "2026-10-25T02", "+02:00", "2026-10-25T02", "+01:00"),
    ("2026-10-25T01", "2026-10-25T02", "2026-10-25T02", "+01:00", "2026-10-25T03", "+01:00"),
    ("2026-10-25T02", "2026-10-25T03", "2026-10-25T03", "+01:00", "2026-10-25T04", "+01:00"),
    ("2026-10-25T03", "2026-10-25T04", "2026-10-25T04", "+01:00", "2026-10-25T05", "+01:00"),
    ("2026-10-25T04", "2026-10-25T05", "2026-10-25T05", "+01:00", "2026-10-25T06", "+01:00"),
]


def test_csv_carries_plant_local_time_beside_utc_across_the_fall_back_night(tmp_path: Path) -> None:
    clock = ManualClock(utc("2026-11-25 12:00"))
    with api(tmp_path, clock, text=BERLIN_NIGHT) as client:
        r = client.get("/api/lines/line1/board?date=2026-10-24&shift=night&format=csv")
        assert r.status_code == 200
        table = [line.split(",") for line in r.text.splitlines()]
    assert table[0][:4] == ["start", "end", "start_local", "end_local"]
    # 22:00 CEST (UTC+2) to 06:00 CET (UTC+1) is nine hours; 02:00 local comes twice, told apart by its offset.
    assert [row[:4] for row in table[1:]] == [
        [f"{u0}:00:00+00:00", f"{u1}:00:00+00:00", f"{l0}:00:00{o0}", f"{l1}:00:00{o1}"]
        for u0, u1, l0, o0, l1, o1 in NIGHT_ROWS
    ]
    # Nothing was made that night: every row is over, 60 short and asks for a reason (no products: none
    # listed); the whole night is one unexplained stop (60 minutes of each row), so availability and OEE are
    # 0 and there is no performance.
    assert [row[4:] for row in table[1:]] == [
        ["60", "60", "0", "-60", str(60 * k), str(60 * k), "0", str(-60 * k), "0", "abnormal", "false", "true",
         "", "", "", "", "", "1", "60.0", "60.0", "0.0", "", "", "0.0", "", ""]
        for k in range(1, 10)
    ]


def test_board_json_names_the_plant_timezone(tmp_path: Path) -> None:
    with api(tmp_path, ManualClock(utc("2026-11-25 12:00")), text=BERLIN_NIGHT) as client:
        board = client.get("/api/lines/line1/board?date=2026-11-24&shift=night").json()
    assert (board["timezone"], board["start"], board["rows"][0]["start"]) == (
        "Europe/Berlin", "2026-11-24T21:00:00+00:00", "2026-11-24T21:00:00+00:00")


def test_open_andon_calls_are_laid_on_the_condition(tmp_path: Path) -> None:
    clock = ManualClock(utc("2026-11-25 07:30"))
    with api(tmp_path, clock) as client:
        andons = client.services.andons  # type: ignore[attr-defined]

        def signal() -> tuple[str, Any]:
            state = client.get("/api/lines/line1/state").json()
            listed = next(x["state"] for x in client.get("/api/lines").json() if x["id"] == "line1")
            assert listed["andon"] == state["andon"]
            return state["condition"], state["andon"]

        assert signal() == ("abnormal", None)
        material = client.post("/api/andons", json={"line": "line1", "station": "st1", "category": "material"}).json()
        assert signal() == ("abnormal", "raised")
        client.post(f"/api/andons/{material['id']}/acknowledge")
        assert signal() == ("abnormal", "acknowledged")
        quality = client.post("/api/andons", json={"line": "line1", "station": "st2", "category": "quality"}).json()
        assert signal() == ("abnormal", "raised")
        clock.advance(120)  # the supervisor tier is due after 120 s
        assert [c["tier"] for c in andons.escalate()] == ["supervisor"]
        assert signal() == ("abnormal", "escalated")  # the condition keeps its value; the call lies on top
        client.post(f"/api/andons/{quality['id']}/acknowledge")
        assert signal() == ("abnormal", "acknowledged")  # answered: no longer waiting, even though it climbed
        for call in (material, quality):
            client.post(f"/api/andons/{call['id']}/resolve")
        assert signal() == ("abnormal", None)


@pytest.mark.parametrize(
    ("calls", "expected"),
    [
        ([], None),
        ([{"state": "acknowledged", "tier_index": 2}], "acknowledged"),
        ([{"state": "raised", "tier_index": 0}], "raised"),
        ([{"state": "raised", "tier_index": 1}], "escalated"),
        ([{"state": "acknowledged", "tier_index": 0}, {"state": "raised", "tier_index": 0}], "raised"),
        ([{"state": "raised", "tier_index": 1}, {"state": "raised", "tier_index": 0}], "escalated"),
        ([{"state": "resolved", "tier_index": 3}], None),
    ],
)
def test_andon_signal_is_the_most_urgent_open_call(calls: list[dict[str, Any]], expected: str | None) -> None:
    assert andon_signal(calls) == expected
