"""The improvement loop through the API: reasons on missed rows, problems through PDCA, summaries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from andon.clock import ManualClock
from tests.api.api_fixtures import api
from tests.core.engine_fixtures import utc


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(utc("2026-11-25 08:30"))


@pytest.fixture
def client(tmp_path: Path, clock: ManualClock) -> Iterator[TestClient]:
    with api(tmp_path, clock) as c:
        yield c


ROW_0600 = "2026-11-25T06:00:00+00:00"
ROW_0700 = "2026-11-25T07:00:00+00:00"


def test_reason_on_a_missed_row_opens_a_problem_in_one_step(client: TestClient) -> None:
    client.post("/api/lines/line1/counts", json={"count": 50, "ts": utc("2026-11-25 06:30")})
    r = client.put(
        "/api/lines/line1/board/reason",
        json={
            "start": ROW_0600,
            "reason": "Waiting for material",
            "open_problem": {"title": "Material shortage at st3", "owner": "Sam", "due_date": "2026-12-01"},
        },
    )
    assert r.status_code == 200
    body = r.json()
    assert (body["row"]["delta"], body["row"]["reason"], body["row"]["problem_id"], body["row"]["problem_status"]) == (
        -10,
        "Waiting for material",
        1,
        "open",
    )
    problem = body["problem"]
    assert {
        k: problem[k] for k in ("id", "title", "line", "owner", "due_date", "status", "description", "overdue")
    } == {
        "id": 1,
        "title": "Material shortage at st3",
        "line": "line1",
        "owner": "Sam",
        "due_date": "2026-12-01",
        "status": "open",
        "description": "Waiting for material",
        "overdue": False,
    }
    assert problem["rows"] == [{"line": "line1", "start": ROW_0600}]
    board = client.get("/api/lines/line1/board").json()
    assert (board["rows"][0]["reason"], board["rows"][0]["problem_id"]) == ("Waiting for material", 1)
    # Moving the problem through PDCA shows on the board row.
    for status in ("plan", "do"):
        assert client.patch("/api/problems/1", json={"status": status}).json()["status"] == status
    assert client.get("/api/lines/line1/board").json()["rows"][0]["problem_status"] == "do"


def test_link_a_row_to_an_existing_problem_and_an_andon_call(client: TestClient) -> None:
    call = client.post("/api/andons", json={"line": "line1", "station": "st3", "category": "material"}).json()
    created = client.post(
        "/api/problems",
        json={
            "title": "Kanban loop broken",
            "line": "line1",
            "category": "material",
            "andon_call_ids": [call["id"]],
        },
    )
    assert created.status_code == 201
    pid = created.json()["id"]
    r = client.put("/api/lines/line1/board/reason", json={"start": ROW_0700, "reason": "no parts", "problem_id": pid})
    assert r.json()["problem"]["rows"] == [{"line": "line1", "start": ROW_0700}]
    assert r.json()["problem"]["andon_call_ids"] == [call["id"]]
    # Rewriting the reason replaces it; the link stays single.
    r = client.put("/api/lines/line1/board/reason", json={"start": ROW_0700, "reason": "No parts!", "problem_id": pid})
    assert (r.json()["row"]["reason"], len(r.json()["problem"]["rows"])) == ("No parts!", 1)


def test_pdca_fields_filters_and_overdue(client: TestClient, clock: ManualClock) -> None:
    a = client.post(
        "/api/problems", json={"title": "A", "line": "line1", "owner": "Sam", "due_date": "2026-11-24"}
    ).json()
    b = client.post("/api/problems", json={"title": "B", "line": "line2", "owner": "Kim"}).json()
    assert (a["overdue"], b["overdue"]) == (True, False)
    patched = client.patch(
        f"/api/problems/{a['id']}",
        json={
            "status": "act",
            "root_cause": "worn fixture",
            "countermeasure": "new fixture, weekly check",
            "due_date": "2026-12-24",
        },
    ).json()
    assert {k: patched[k] for k in ("status", "root_cause", "countermeasure", "due_date", "overdue")} == {
        "status": "act",
        "root_cause": "worn fixture",
        "countermeasure": "new fixture, weekly check",
        "due_date": "2026-12-24",
        "overdue": False,
    }
    assert [p["title"] for p in client.get("/api/problems?owner=Kim").json()] == ["B"]
    assert [p["title"] for p in client.get("/api/problems?status=act").json()] == ["A"]
    assert [p["title"] for p in client.get("/api/problems?line=line1").json()] == ["A"]
    assert [p["title"] for p in client.get("/api/problems").json()] == ["B", "A"]
    closed = client.patch(f"/api/problems/{b['id']}", json={"status": "closed", "due_date": "2020-01-01"}).json()
    assert closed["overdue"] is False


def test_recurring_reason_is_suggested_and_check_shows_before_and_after(client: TestClient, clock: ManualClock) -> None:
    clock.set(utc("2026-11-25 13:30"))
    for hour in ("06", "07", "08"):
        client.put(
            "/api/lines/line1/board/reason",
            json={"start": f"2026-11-25T{hour}:00:00+00:00", "reason": "Changeover  overran"},
        )
    client.put("/api/lines/line1/board/reason", json={"start": "2026-11-25T10:00:00+00:00", "reason": "other"})
    suggestions = client.get("/api/problems/suggestions?line=line1").json()
    assert suggestions == [
        {
            "line": "line1",
            "reason": "changeover overran",
            "rows": 3,
            "row_starts": [ROW_0600, ROW_0700, "2026-11-25T08:00:00+00:00"],
        }
    ]
    pid = client.post("/api/problems", json={"title": "Changeovers", "line": "line1"}).json()["id"]
    for hour in ("06", "07", "08"):
        client.put(
            "/api/lines/line1/board/reason",
            json={"start": f"2026-11-25T{hour}:00:00+00:00", "reason": "changeover overran", "problem_id": pid},
        )
    assert client.get("/api/problems/suggestions?line=line1").json() == []
    # The countermeasure went in on the 25th; on the 26th it recurs once.
    client.patch(f"/api/problems/{pid}", json={"countermeasure": "SMED", "countermeasure_date": "2026-11-25"})
    clock.set(utc("2026-11-26 13:30"))
    client.put(
        "/api/lines/line1/board/reason",
        json={"start": "2026-11-26T06:00:00+00:00", "reason": "Changeover overran", "problem_id": pid},
    )
    check = client.get(f"/api/problems/{pid}").json()["check"]
    assert check == {"reason": "changeover overran", "before": 0, "after": 4, "since": "2026-11-25", "window_days": 28}
    client.patch(f"/api/problems/{pid}", json={"countermeasure_date": "2026-11-26"})
    check = client.get(f"/api/problems/{pid}").json()["check"]
    assert (check["before"], check["after"]) == (3, 1)


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"start": "2026-11-25T06:30:00+00:00", "reason": "x"}, 422, "is not the start of a board row"),
        ({"start": "2026-11-25T05:00:00+00:00", "reason": "x"}, 422, "is not the start of a board row"),
        ({"start": "whenever", "reason": "x"}, 422, "is not a time"),
        ({"start": ROW_0600, "reason": ""}, 422, "reason"),
        ({"start": ROW_0600, "reason": "x", "problem_id": 99}, 404, "no problem 99"),
        ({"start": ROW_0600, "reason": "x", "problem_id": 1, "open_problem": {"title": "t"}}, 422, "not both"),
    ],
)
def test_bad_reasons(client: TestClient, body: dict[str, object], status: int, says: str) -> None:
    client.post("/api/problems", json={"title": "seed", "line": "line1"})
    r = client.put("/api/lines/line1/board/reason", json=body)
    assert r.status_code == status and says in r.json()["detail"]


def test_problem_of_another_line_cannot_be_linked(client: TestClient) -> None:
    pid = client.post("/api/problems", json={"title": "t", "line": "line2"}).json()["id"]
    r = client.put("/api/lines/line1/board/reason", json={"start": ROW_0600, "reason": "x", "problem_id": pid})
    assert (r.status_code, r.json()["detail"]) == (422, f"problem {pid} belongs to line 'line2'")


def test_bad_problem_bodies(client: TestClient) -> None:
    assert client.post("/api/problems", json={"title": "t", "line": "nope"}).json()["detail"] == "no line 'nope'"
    assert client.post("/api/problems", json={"title": "t", "line": "line1", "andon_call_ids": [5]}).status_code == 422
    assert client.post("/api/problems", json={"title": "t", "line": "line1", "due_date": "soon"}).status_code == 422
    assert client.patch("/api/problems/7", json={"status": "do"}).status_code == 404
    assert client.patch("/api/problems/1", json={"status": "pondering"}).status_code == 422


def test_plan_override_for_one_shift(client: TestClient) -> None:
    r = client.put("/api/lines/line1/plan", json={"date": "2026-11-25", "shift": "early", "demand_per_shift": 261})
    assert r.json() == {
        "line": "line1",
        "date": "2026-11-25",
        "shift": "early",
        "takt_seconds": 100.0,
        "shift_target": 261,
        "set_by": "open-access",
    }
    state = client.get("/api/lines/line1/state").json()
    assert (state["takt_seconds"], state["plan_to_date"], state["shift_target"]) == (100.0, 90, 261)
    assert client.put("/api/lines/line1/plan", json={"date": "2026-11-25", "shift": "early"}).status_code == 422
    assert (
        client.put("/api/lines/line1/plan", json={"date": "2026-11-25", "shift": "x", "takt_seconds": 5}).status_code
        == 404
    )
    # A takt under a millisecond is a typo, not a plan (1e-9 s made a shift target of 27 million million).
    tiny = client.put("/api/lines/line1/plan", json={"date": "2026-11-25", "shift": "early", "takt_seconds": 1e-9})
    assert tiny.status_code == 422 and "greater than or equal to 0.001" in tiny.json()["detail"]
    assert client.get("/api/lines/line1/state").json()["shift_target"] == 261


def test_daily_and_weekly_summaries(client: TestClient, clock: ManualClock) -> None:
    clock.set(utc("2026-11-25 08:00"))
    # 06:00-07:00 one part a minute, then a 20-minute stop, then one a minute again.
    for minute in list(range(0, 60)) + list(range(80, 120)):
        client.post("/api/lines/line1/counts", json={"count": 1, "ts": utc("2026-11-25 06:00") + minute * 60 + 30})
    client.post("/api/lines/line1/counts", json={"count": 3, "kind": "scrap", "ts": utc("2026-11-25 06:10")})
    a = client.post("/api/andons", json={"line": "line1", "station": "s", "category": "quality"}).json()["id"]
    clock.advance(30)
    client.post(f"/api/andons/{a}/acknowledge")
    clock.advance(90)
    client.post(f"/api/andons/{a}/resolve")
    b = client.post("/api/andons", json={"line": "line1", "station": "t", "category": "quality"}).json()["id"]
    clock.advance(50)
    client.post(f"/api/andons/{b}/resolve")
    days = client.get("/api/summary/daily?line=line1&days=2").json()
    assert [d["period"] for d in days] == ["2026-11-24", "2026-11-25"]
    today = days[1]
    # Downtime is every gap between good counts of at least the stop time (3 takts): 06:59:30 -> 07:20:30
    # (21 min) and the last count 07:59:30 -> now 08:02:50 (3 min 20 s).
    assert {k: today[k] for k in ("planned", "actual", "attainment", "scrap", "downtime_minutes")} == {
        "planned": 122,
        "actual": 100,
        "attainment": round(100 / 122, 4),
        "scrap": 3,
        "downtime_minutes": 24.33,
    }
    assert today["andon"] == {
        "quality": {
            "count": 2,
            "open": 0,
            "unacknowledged": 0,
            "mean_response_s": 40.0,
            "p90_response_s": 50.0,
            "mean_resolution_s": 85.0,
            "p90_resolution_s": 120.0,
        }
    }
    weeks = client.get("/api/summary/weekly?line=line1&weeks=1").json()
    assert (weeks[0]["period"], weeks[0]["actual"], weeks[0]["andon"]["quality"]["count"]) == ("2026-W48", 100, 2)
    assert client.get("/api/summary/daily?line=nope").status_code == 404
    assert client.get("/api/summary/daily?line=line1&days=0").status_code == 422
