"""A shift's counts, stops, reasons, planned stop and scrap through the API: every OEE figure and waterfall
bucket, the Pareto and the trend equal the hand-computed values, and a restart rebuilds the same stops."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from andon.clock import ManualClock
from tests.api.api_fixtures import api
from tests.core.engine_fixtures import utc
from tests.core.test_products_plant import CONFIG as PRODUCTS

CONFIG = """
plant: {{name: Test, timezone: UTC}}
database: sqlite:///{db}
shifts:
  - {{id: early, start: "06:00", end: "08:00", breaks: [{{start: "07:00", end: "07:10"}}]}}
lines:
  - id: line1
    takt_seconds: 60
    ideal_cycle_seconds: 50
    thresholds: {{stop_after_seconds: 180}}
    losses: {{small_stop_seconds: 300, reason_after_seconds: 120, propose_after_stops: 2}}
    sources:
      - {{type: http, id: http}}
"""


def at(hhmm: str) -> float:
    return utc(f"2026-11-25 {hhmm}")


def minutes(first: str, last: str) -> list[float]:
    """Return one time a minute from first to last (both included)."""
    return [at(first) + 60 * i for i in range(int((at(last) - at(first)) // 60) + 1)]


# Good counts. Row 1: 06:11-06:20, 06:35-06:40, 06:44-06:59 (10 + 6 + 16 = 32); gaps 06:20-06:35 (900 s, the
# breakdown) and 06:40-06:44 (240 s, a small stop); 06:00-06:11 holds the 10-minute meeting and 60 s more.
# Row 2: 07:05 (in the break), 07:20-07:40, 07:45-07:59 (1 + 21 + 15 = 37); gaps 07:05-07:20 (600 s outside
# the break, left unexplained) and 07:40-07:45 (300 s, given the planned reason "meeting").
GOOD = [*minutes("06:11", "06:20"), *minutes("06:35", "06:40"), *minutes("06:44", "06:59"),
        at("07:05"), *minutes("07:20", "07:40"), *minutes("07:45", "07:59")]


def run_shift(client: TestClient, clock: ManualClock) -> dict[int, dict[str, Any]]:
    meeting = client.post("/api/lines/line1/planned-stops",
                          json={"start": at("06:00"), "end": at("06:10"), "reason": "meeting"})
    assert meeting.status_code == 201, meeting.text
    for t in GOOD:
        clock.set(t)
        assert client.post("/api/lines/line1/counts", json={"ts": t}).status_code == 201
    for t in (at("06:30"), at("06:31")):
        r = client.post("/api/lines/line1/counts", json={"ts": t, "kind": "scrap", "reason": "adjustment"})
        assert r.status_code == 201, r.text
    clock.set(at("09:00"))
    stops = {s["start"][11:16]: s for s in client.get("/api/lines/line1/stops").json()}
    assert sorted(stops) == ["06:00", "06:20", "06:40", "07:05", "07:40"]
    assert client.put(f"/api/lines/line1/stops/{stops['06:20']['id']}/reason",
                      json={"reason": "breakdown", "note": "spindle", "by": "ann"}).status_code == 200
    assert client.put(f"/api/lines/line1/stops/{stops['07:40']['id']}/reason", json={"reason": "meeting"}).json()[
        "planned"] is True
    return {s["id"]: s for s in client.get("/api/lines/line1/stops").json()}


def check_board(board: dict[str, Any]) -> None:
    """The board equals the table worked out in tests/core/test_losses.py."""
    expected = [
        # planned production, run, planned stops, unplanned, small, slow, scrap, A, P, Q, OEE
        (3000, 2100, 600, {"breakdown": 900}, 240, 160, 100, 0.7, 0.8095, 0.9412, 0.5333),
        (2700, 2100, 300, {"unexplained": 600}, 0, 250, 0, 0.7778, 0.881, 1.0, 0.6852),
        (5700, 4200, 900, {"breakdown": 900, "unexplained": 600}, 240, 410, 100, 0.7368, 0.8452, 0.9718, 0.6053),
    ]
    for part, values in zip([*board["rows"], board["totals"]], expected, strict=True):
        w, f = part["losses"], part["oee"]
        assert (w["planned_production_seconds"], w["run_seconds"], w["planned_stops"], w["unplanned"],
                w["small_stops"], w["slow_cycles"], w["scrap"]) == values[:7]
        assert (f["availability"], f["performance"], f["quality"], f["oee"]) == values[7:]
    assert [r["actual"] for r in board["rows"]] == [32, 37]
    assert [r["scrap"] for r in board["rows"]] == [2, 0]
    # The meeting entered ahead is out of the plan: row 1 plans 50 parts, not 60.
    assert [r["planned"] for r in board["rows"]] == [50, 50]


def test_a_shift_through_the_api_gives_the_hand_computed_figures(tmp_path: Path) -> None:
    clock = ManualClock(at("05:59"))
    text = CONFIG
    with api(tmp_path, clock, text=text) as client:
        stops = run_shift(client, clock)
        by_start = {s["start"][11:16]: s for s in stops.values()}
        assert [(s["seconds"], s["small"], s["reason"], s["category"], s["planned"]) for _, s in
                sorted(by_start.items())] == [
            (600, False, "meeting", "meeting", True), (900, False, "breakdown", "breakdown", False),
            (240, True, None, None, False), (600, False, None, None, False), (300, False, "meeting", "meeting", True)]
        assert (by_start["06:20"]["reason_by"], by_start["06:20"]["note"]) == ("ann", "spindle")
        assert by_start["07:05"]["needs_reason"] is True and by_start["06:40"]["needs_reason"] is False
        board = client.get("/api/lines/line1/board?date=2026-11-25&shift=early").json()
        check_board(board)
        assert board["stop_prompt"]["start"][11:16] == "07:05"
        pareto = client.get("/api/losses?line=line1&from=2026-11-25&to=2026-11-25").json()
        assert [(i["reason"], i["seconds"], i["occurrences"]) for i in pareto["items"]] == [
            ("breakdown", 900, 1), (None, 600, 1), ("meeting", 300, 1)]
        assert pareto["small_stops"] == {"seconds": 240, "minutes": 4.0, "occurrences": 1}
        assert pareto["scrap"] == [{"reason": "adjustment", "name": "Adjustment", "parts": 2}]
        by_category = client.get("/api/losses?line=line1&from=2026-11-25&to=2026-11-25&by=category").json()
        assert [(i["category"], i["minutes"]) for i in by_category["items"]] == [
            ("breakdown", 15.0), ("unexplained", 10.0), ("meeting", 5.0)]
        trend = client.get("/api/oee?line=line1&from=2026-11-25&to=2026-11-25&by=shift").json()
        assert [p["period"] for p in trend["periods"]] == ["2026-11-25 early"]
        assert trend["periods"][0]["oee"] == board["totals"]["oee"]
        assert trend["periods"][0]["losses"] == board["totals"]["losses"]
        csv_rows = client.get("/api/lines/line1/board?date=2026-11-25&shift=early&format=csv").text.splitlines()
        # stops, stop minutes (planned + unplanned + small), unexplained minutes, A, P, Q, OEE
        assert csv_rows[1].split(",")[-9:-2] == ["3", "29.0", "0.0", "0.7", "0.8095", "0.9412", "0.5333"]
        metrics = client.get("/metrics").text
        assert 'andon_open_stops{line="line1"} 0.0' in metrics

    # A restart rebuilds the same stops, with the same ids and reasons, from what was stored.
    with api(tmp_path, clock, text=text) as client:
        again = {s["id"]: s for s in client.get("/api/lines/line1/stops?from=2026-11-25T06:00:00Z&to="
                                                "2026-11-25T08:00:00Z").json()}
        assert again == stops
        check_board(client.get("/api/lines/line1/board?date=2026-11-25&shift=early").json())


def test_an_open_stop_prompts_and_can_be_split(tmp_path: Path) -> None:
    clock = ManualClock(at("06:00"))
    with api(tmp_path, clock, text=CONFIG) as client:
        client.post("/api/lines/line1/counts", json={"ts": at("06:01")})
        clock.set(at("06:03") + 59)
        assert client.get("/api/lines/line1/state").json()["stop"] is None
        clock.set(at("06:04"))  # 180 s of silence: a stop opens at the last count
        state = client.get("/api/lines/line1/state").json()
        assert (state["condition"], state["stop"]["start"][11:16], state["stop"]["small"]) == (
            "abnormal", "06:01", True)
        assert state["stop_prompt"] is None
        clock.set(at("06:07"))  # 360 s: not small; older than reason_after (120 s): the prompt shows
        state = client.get("/api/lines/line1/state").json()
        assert state["stop_prompt"]["id"] == state["stop"]["id"] and state["stop_prompt"]["needs_reason"]
        stop_id = state["stop"]["id"]
        halves = client.post(f"/api/lines/line1/stops/{stop_id}/split", json={"at": at("06:04")}).json()
        assert [(h["start"][11:16], h["end"]) for h in halves] == [("06:01", "2026-11-25T06:04:00+00:00"),
                                                                    ("06:04", None)]
        assert halves[0]["id"] == stop_id
        client.put(f"/api/lines/line1/stops/{halves[0]['id']}/reason", json={"reason": "jam"})
        client.put(f"/api/lines/line1/stops/{halves[1]['id']}/reason", json={"reason": "no_material"})
        clock.set(at("06:10"))
        client.post("/api/lines/line1/counts", json={"ts": at("06:10")})
        stops = client.get("/api/lines/line1/stops").json()
        assert [(s["start"][11:16], s["end"][11:16], s["reason"]) for s in stops] == [
            ("06:01", "06:04", "jam"), ("06:04", "06:10", "no_material")]
        bad = client.put(f"/api/lines/line1/stops/{stop_id}/reason", json={"reason": "nonsense"})
        assert bad.status_code == 422 and "nonsense" in bad.json()["detail"]
        assert client.put("/api/lines/line1/stops/9999/reason", json={"reason": "jam"}).status_code == 404
        assert client.post("/api/lines/line1/planned-stops", json={
            "start": at("07:20"), "end": at("07:30"), "reason": "jam"}).status_code == 422


def test_both_halves_of_a_split_keep_the_reason(tmp_path: Path) -> None:
    clock = ManualClock(at("06:00"))
    with api(tmp_path, clock, text=CONFIG) as client:
        for t in ("06:01", "06:20"):  # a closed stop 06:01-06:20, then an open one from 06:20
            clock.set(at(t))
            client.post("/api/lines/line1/counts", json={"ts": at(t)})
        clock.set(at("06:40"))
        closed, open_ = sorted((s for s in client.get("/api/lines/line1/stops").json() if not s["small"]),
                               key=lambda s: s["start"])
        for stop, code in ((closed, "jam"), (open_, "no_material")):
            assert client.put(f"/api/lines/line1/stops/{stop['id']}/reason",
                              json={"reason": code, "by": "ann"}).status_code == 200
        for stop, cut, code in ((closed, "06:10", "jam"), (open_, "06:30", "no_material")):
            halves = client.post(f"/api/lines/line1/stops/{stop['id']}/split", json={"at": at(cut)}).json()
            assert [(h["start"][11:16], h["reason"], h["reason_by"]) for h in halves] == [
                (stop["start"][11:16], code, "ann"), (cut, code, "ann")]
        stops = client.get("/api/lines/line1/stops").json()
        assert [(s["start"][11:16], s["reason"]) for s in stops if not s["small"]] == [
            ("06:01", "jam"), ("06:10", "jam"), ("06:20", "no_material"), ("06:30", "no_material")]


def test_recurring_reason_codes_are_proposed_and_checked_per_week(tmp_path: Path) -> None:
    clock = ManualClock(at("06:00"))
    with api(tmp_path, clock, text=CONFIG) as client:
        for t in ("06:10", "06:20", "06:30", "06:40"):  # four 10-minute stops, from 06:00 on
            clock.set(at(t))
            assert client.post("/api/lines/line1/counts", json={"ts": at(t)}).status_code == 201
        stops = [s for s in client.get("/api/lines/line1/stops").json() if not s["small"]]
        for s in stops:
            if s["start"][11:16] in ("06:10", "06:30"):
                client.put(f"/api/lines/line1/stops/{s['id']}/reason", json={"reason": "jam"})
        suggestions = client.get("/api/problems/suggestions?line=line1").json()
        assert [(x["code"], x["stops"], x["minutes"]) for x in suggestions] == [("jam", 2, 20.0)]
        problem = client.post("/api/problems", json={"title": "Jams", "line": "line1", "reason_code": "jam"}).json()
        patched = client.patch(f"/api/problems/{problem['id']}", json={"countermeasure_date": "2026-11-25"}).json()
        check = patched["stop_check"]
        assert (check["code"], check["before"], check["after"]) == (
            "jam", {"stops": 0, "minutes": 0}, {"stops": 2, "minutes": 20.0})
        assert client.get("/api/problems/suggestions?line=line1").json() == []


TWO_LINES = CONFIG.replace(
    'shifts:\n', 'shifts:\n  - {{id: late, start: "08:05", end: "10:05"}}\n').replace(
    "    sources:\n      - {{type: http, id: http}}\n",
    "    shifts: [early]\n    sources:\n      - {{type: http, id: http}}\n"
    "  - {{id: line2, takt_seconds: 60, ideal_cycle_seconds: 40, shifts: [late],"
    " thresholds: {{stop_after_seconds: 180}}, sources: [{{type: http, id: http}}]}}\n")


def test_a_plant_report_equals_its_lines_reports_and_boards(tmp_path: Path) -> None:
    # line2 runs a shift off the quarter hours (08:05-10:05), so its counts come from the events and
    # line1's from the quarter totals; the plant report reads both lines' stops and counts at once.
    clock = ManualClock(at("05:59"))
    with api(tmp_path, clock, text=TWO_LINES) as client:
        run_shift(client, clock)
        line2 = [*minutes("08:06", "08:40"), *minutes("09:00", "10:04")]  # 35 + 65 good; 08:40-09:00 silent
        for t in line2:
            clock.set(t)
            assert client.post("/api/lines/line2/counts", json={"ts": t}).status_code == 201
        clock.set(at("11:00"))
        span = "from=2026-11-25&to=2026-11-25"
        boards = {line: client.get(f"/api/lines/{line}/board?date=2026-11-25&shift={shift}").json()
                  for line, shift in (("line1", "early"), ("line2", "late"))}
        assert [r["actual"] for r in boards["line2"]["rows"]] == [35 + 5, 60]  # rows of an hour from 08:05
        check_board(boards["line1"])
        trend = client.get(f"/api/oee?{span}&by=shift").json()
        assert [p["period"] for p in trend["periods"]] == ["2026-11-25 early line1", "2026-11-25 late line2"]
        for period, line in zip(trend["periods"], ("line1", "line2"), strict=True):
            totals = boards[line]["totals"]
            assert (period["oee"], period["losses"]) == (totals["oee"], totals["losses"])
        plant = client.get(f"/api/losses?{span}").json()
        one = [client.get(f"/api/losses?line={line}&{span}").json() for line in ("line1", "line2")]
        summed: dict[object, list[float]] = {}
        for report in one:
            for item in report["items"]:
                entry = summed.setdefault(item["reason"], [0, 0])
                entry[0] += item["seconds"]
                entry[1] += item["occurrences"]
        assert {i["reason"]: [i["seconds"], i["occurrences"]] for i in plant["items"]} == summed
        assert summed[None] == [600 + 1200, 2]  # line1's 07:05 gap and line2's 08:40-09:00 gap, unexplained
        assert plant["small_stops"]["occurrences"] == sum(r["small_stops"]["occurrences"] for r in one)
        assert plant["totals"]["good"] == 32 + 37 + 100 == sum(r["totals"]["good"] for r in one)


def test_reports_of_a_line_with_products_equal_its_board(tmp_path: Path) -> None:
    # Product A (ideal cycle 50 s) in the 06:00 row, B (38 s on this line) from 07:00: the trend and the Pareto
    # take each row's parts at its product's ideal cycle, as the board does, not the shift's first product's.
    clock = ManualClock(at("06:00"))
    with api(tmp_path, clock, text=PRODUCTS) as client:
        assert client.put("/api/lines/l1/product", json={"product": "A", "at": at("06:00")}).status_code == 200
        a_parts, b_parts = minutes("06:01", "06:59"), minutes("07:10", "07:59")
        for t in a_parts:
            clock.set(t)
            assert client.post("/api/lines/l1/counts", json={"ts": t}).status_code == 201
        clock.set(at("07:00"))
        assert client.put("/api/lines/l1/product", json={"product": "B"}).status_code == 200
        for t in b_parts:
            clock.set(t)
            assert client.post("/api/lines/l1/counts", json={"ts": t}).status_code == 201
        clock.set(at("14:30"))
        totals = client.get("/api/lines/l1/board?date=2026-11-25&shift=early").json()["totals"]
        assert totals["losses"]["good_seconds"] == len(a_parts) * 50 + len(b_parts) * 38 == 4850
        span = "line=l1&from=2026-11-25&to=2026-11-25"
        (period,) = client.get(f"/api/oee?{span}&by=shift").json()["periods"]
        assert (period["oee"], period["losses"]) == (totals["oee"], totals["losses"])
        assert client.get(f"/api/losses?{span}").json()["totals"]["losses"] == totals["losses"]


def test_reports_leave_out_what_was_before_the_first_count_and_see_a_day_nobody_watched(tmp_path: Path) -> None:
    # Counts on the 24th and the 26th only. The 23rd is before the line's first count: no data, as in the
    # summaries. The 25th (nothing counted, no stop stored: the server was off) is a whole shift stopped, and
    # reading its stops changes nothing.
    clock = ManualClock(utc("2026-11-24 06:00"))
    with api(tmp_path, clock, text=CONFIG) as client:
        for day in ("2026-11-24", "2026-11-26"):
            t = utc(f"{day} 06:30")
            clock.set(t)
            assert client.post("/api/lines/line1/counts", json={"ts": t}).status_code == 201
        clock.set(utc("2026-11-26 09:00"))

        def report(day: str) -> tuple[list[Any], Any]:
            span = f"line=line1&from={day}&to={day}"
            return client.get(f"/api/oee?{span}&by=day").json()["periods"], client.get(f"/api/losses?{span}").json()

        periods, pareto = report("2026-11-23")
        assert (periods, pareto["items"], pareto["totals"]["oee"]["oee"]) == ([], [], None)
        periods, pareto = report("2026-11-25")
        assert [(p["period"], p["oee"]["availability"], p["losses"]["run_seconds"]) for p in periods] == [
            ("2026-11-25", 0.0, 0)]
        assert [(i["reason"], i["seconds"], i["occurrences"]) for i in pareto["items"]] == [(None, 6600, 1)]
        client.get("/api/lines/line1/stops?from=2026-11-25T00:00:00Z&to=2026-11-26T00:00:00Z")
        assert report("2026-11-25") == (periods, pareto)


def test_a_stop_begins_when_the_line_was_next_expected_to_run(tmp_path: Path) -> None:
    """No count since a not-scheduled start of the shift: the stop begins when the line became scheduled, not at
    the shift start; its seconds are the same. A count in a break still begins the stop after it."""
    clock = ManualClock(at("06:00"))
    with api(tmp_path, clock, text=CONFIG) as client:
        reply = client.put("/api/lines/line1/schedule", json={"scheduled": False, "from": at("06:00"),
                                                               "to": at("06:30"), "reason": "no crew"})
        assert reply.status_code == 200, reply.text
        clock.set(at("06:32"))
        assert client.get("/api/lines/line1/stops").json() == []  # 120 s scheduled: not a stop yet
        clock.set(at("06:45"))
        [stop] = client.get("/api/lines/line1/stops").json()
        assert (stop["start"], stop["end"], stop["seconds"], stop["open"]) == (
            "2026-11-25T06:30:00+00:00", None, 900.0, True)
        clock.set(at("06:50"))
        assert client.post("/api/lines/line1/counts", json={"count": 1, "ts": at("06:50"), "id": "c1"}).status_code \
            == 201
        clock.set(at("07:05"))
        assert client.post("/api/lines/line1/counts", json={"count": 1, "ts": at("07:05"), "id": "c2"}).status_code \
            == 201
        clock.set(at("07:30"))
        stops = [(s["start"], s["end"], s["seconds"]) for s in client.get("/api/lines/line1/stops").json()]
        assert stops == [
            ("2026-11-25T06:30:00+00:00", "2026-11-25T06:50:00+00:00", 1200.0),
            ("2026-11-25T06:50:00+00:00", "2026-11-25T07:05:00+00:00", 600.0),  # 15 min, 5 of them in the break
            ("2026-11-25T07:05:00+00:00", None, 1200.0),  # from the count in the break, 20 min after it
        ]
