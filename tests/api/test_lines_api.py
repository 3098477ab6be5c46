"""The lines API through FastAPI's test client on a real SQLite database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from andon.api.app import create_app
from andon.clock import ManualClock
from andon.services import services_for
from tests.core.engine_fixtures import utc
from tests.core.plant_fixtures import make_config, make_plant


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(utc("2026-11-25 07:30"))


@pytest.fixture
def client(tmp_path: Path, clock: ManualClock) -> Iterator[TestClient]:
    config = make_config(tmp_path)
    plant = make_plant(config, clock)
    services = services_for(plant)
    with TestClient(create_app(services)) as c:
        yield c
    plant.close()


def test_healthz_and_lines(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    lines = client.get("/api/lines").json()
    assert [(x["id"], x["name"], x["state"]["condition"]) for x in lines] == [
        ("line1", "Assembly 1", "abnormal"),
        ("line2", "line2", "abnormal"),
    ]


def test_post_counts_then_state_and_board(client: TestClient) -> None:
    r = client.post("/api/lines/line1/counts", json={"count": 80, "ts": "2026-11-25T06:30:00Z", "id": "a"})
    assert (r.status_code, r.json()) == (201, {"status": "accepted", "count": 80})
    r = client.post("/api/lines/line1/counts", json={"count": 80, "ts": "2026-11-25T06:30:00Z", "id": "a"})
    assert (r.status_code, r.json()) == (200, {"status": "duplicate", "count": 0})
    client.post("/api/lines/line1/counts", json={"count": 4, "kind": "scrap"})
    client.post("/api/lines/line1/counts", json={})  # one good part, now
    state = client.get("/api/lines/line1/state").json()
    assert {
        k: state[k]
        for k in (
            "plan_to_date",
            "actual_to_date",
            "delta",
            "scrap_to_date",
            "shift_target",
            "condition",
            "takt_seconds",
        )
    } == {
        "plan_to_date": 90,
        "actual_to_date": 81,
        "delta": -9,
        "scrap_to_date": 4,
        "shift_target": 435,
        "condition": "abnormal",
        "takt_seconds": 60.0,
    }
    board = client.get("/api/lines/line1/board").json()
    assert (board["date"], board["shift"], board["shift_target"]) == ("2026-11-25", "early", 435)
    first, second = board["rows"][0], board["rows"][1]
    assert (first["planned"], first["actual"], first["delta"], first["condition"]) == (60, 80, 20, "normal")
    # The current row (07:00-08:00 at 07:30): 30 planned so far of 60; its cum_delta is the live delta.
    assert (
        second["planned"], second["planned_so_far"], second["actual"], second["delta"], second["scrap"],
        second["cum_planned"], second["cum_planned_so_far"], second["cum_actual"], second["cum_delta"],
        second["current"],
    ) == (60, 30, 1, -29, 4, 120, 90, 81, -9, True)
    assert second["cum_delta"] == state["delta"]
    assert board["rows"][2]["actual"] is None and board["rows"][2]["condition"] == "pending"


def test_board_csv(client: TestClient) -> None:
    client.post("/api/lines/line1/counts", json={"count": 61, "ts": utc("2026-11-25 06:10")})
    r = client.get("/api/lines/line1/board?date=2026-11-25&shift=early&format=csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.text.splitlines()
    assert lines[0] == (
        "start,end,start_local,end_local,planned,planned_so_far,actual,delta,cum_planned,cum_planned_so_far,"
        "cum_actual,cum_delta,scrap,condition,current,reason_required,reason,problem_id,problem_status,trust,products,"
        "stops,stop_minutes,unexplained_stop_minutes,availability,performance,quality,oee,signed_off_at,signed_off_by"
    )
    # London keeps GMT in November: local times equal UTC here (tests/api/test_board_numbers.py has an offset).
    # Stops: 06:00-06:10 before the first count, and 06:10 on (open at 07:30): the whole time so far is stopped,
    # so availability and OEE are 0; there is no ideal cycle, so no performance; the pending row has no figures.
    assert lines[1] == (
        "2026-11-25T06:00:00+00:00,2026-11-25T07:00:00+00:00,2026-11-25T06:00:00+00:00,2026-11-25T07:00:00+00:00,"
        "60,60,61,1,60,60,61,1,0,normal,false,false,,,,,,2,60.0,60.0,0.0,,1.0,0.0,,"
    )
    assert lines[2] == (
        "2026-11-25T07:00:00+00:00,2026-11-25T08:00:00+00:00,2026-11-25T07:00:00+00:00,2026-11-25T08:00:00+00:00,"
        "60,30,0,-30,120,90,61,-29,0,abnormal,true,false,,,,,,1,30.0,30.0,0.0,,,0.0,,"
    )
    assert lines[3] == (
        "2026-11-25T08:00:00+00:00,2026-11-25T09:00:00+00:00,2026-11-25T08:00:00+00:00,2026-11-25T09:00:00+00:00,"
        "60,0,,,180,90,,,,pending,false,false,,,,,,,,,,,,,,"
    )
    assert len(lines) == 9


def test_board_of_another_shift_and_date(client: TestClient) -> None:
    r = client.get("/api/lines/line1/board?date=2026-11-24&shift=late")
    body = r.json()
    assert (r.status_code, body["start"], body["end"], len(body["rows"])) == (
        200,
        "2026-11-24T14:00:00+00:00",
        "2026-11-24T22:00:00+00:00",
        8,
    )
    assert [row["actual"] for row in body["rows"]] == [0] * 8


@pytest.mark.parametrize(
    ("method", "url", "body", "status", "says"),
    [
        ("get", "/api/lines/nope/state", None, 404, "no line 'nope'"),
        ("get", "/api/lines/nope/board", None, 404, "no line 'nope'"),
        ("get", "/api/lines/line1/board?shift=graveyard", None, 404, "has no shift 'graveyard'"),
        ("get", "/api/lines/line1/board?date=2026-13-01", None, 422, "query.date"),
        ("get", "/api/lines/line1/board?date=2026-11-25", None, 400, "several shifts start on 2026-11-25"),
        ("get", "/api/lines/line1/board?format=xml", None, 422, "query.format"),
        ("post", "/api/lines/line1/counts", {"count": "many"}, 422, "count:"),
        ("post", "/api/lines/line1/counts", {"count": -1}, 422, "count:"),
        ("post", "/api/lines/line1/counts", {"count": 1, "kind": "meh"}, 422, "kind:"),
        ("post", "/api/lines/line1/counts", {"count": 1, "colour": "red"}, 422, "colour: Extra inputs"),
        ("post", "/api/lines/line1/counts", {"count": 1, "ts": "soon"}, 422, "count rejected (bad_time)"),
        ("post", "/api/lines/line1/counts", {"count": 1, "ts": 4102444800}, 422, "count rejected (future_time)"),
        ("post", "/api/lines/line1/counts", {"count": 20000}, 422, "count rejected (jump)"),
        ("post", "/api/lines/nope/counts", {"count": 1}, 404, "no line 'nope'"),
    ],
)
def test_bad_requests_get_a_4xx_saying_what_is_wrong(
    client: TestClient, method: str, url: str, body: object, status: int, says: str
) -> None:
    r = client.request(method.upper(), url, json=body)
    assert r.status_code == status
    assert says in r.json()["detail"]


def test_not_json_body(client: TestClient) -> None:
    r = client.post("/api/lines/line1/counts", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 422 and "JSON" in r.json()["detail"]


def test_pages_and_metrics(client: TestClient) -> None:
    home = client.get("/")
    assert home.status_code == 200 and "/board/" in home.text
    assert "Hour-by-hour" in client.get("/board/line1").text or "board" in client.get("/board/line1").text
    assert client.get("/board/nope").status_code == 404
    client.post("/api/lines/line1/counts", json={"count": "x"})
    client.post("/api/lines/line1/counts", json={"count": 2})
    metrics = client.get("/metrics").text
    assert 'andon_parts_total{kind="good",line="line1"} 2.0' in metrics


def test_counts_carry_marks_from_edges_onto_the_board(client: TestClient) -> None:
    r = client.post("/api/lines/line1/counts", json={"count": 3, "marks": ["credited_after_outage"], "buffered": True})
    assert r.status_code == 201
    client.post("/api/lines/line1/counts", json={"count": 1, "manual": True})
    row = client.get("/api/lines/line1/board").json()["rows"][1]
    assert (row["actual"], row["trust"]) == (4, ["credited_after_outage", "manual", "buffered"])
    bad = client.post("/api/lines/line1/counts", json={"count": 1, "marks": ["trust me"]})
    assert bad.status_code == 422 and "marks" in bad.json()["detail"]
