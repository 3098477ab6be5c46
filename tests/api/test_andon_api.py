"""Andon calls through the API: idempotent raise, acknowledge, resolve, escalation on a fake clock."""

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
    return ManualClock(utc("2026-11-25 07:30"))


@pytest.fixture
def client(tmp_path: Path, clock: ManualClock) -> Iterator[TestClient]:
    with api(tmp_path, clock) as c:
        yield c


def test_raise_is_idempotent_for_an_open_call(client: TestClient) -> None:
    body = {"line": "line1", "station": "st3", "category": "material"}
    first = client.post("/api/andons", json=body)
    assert first.status_code == 201
    call = first.json()
    assert {k: call[k] for k in ("id", "line", "station", "category", "state", "tier", "tier_index", "raised_by")} == {
        "id": 1,
        "line": "line1",
        "station": "st3",
        "category": "material",
        "state": "raised",
        "tier": "team_leader",
        "tier_index": 0,
        "raised_by": "open-access",
    }
    again = client.post("/api/andons", json=body)
    assert (again.status_code, again.json()["id"]) == (200, 1)
    other = client.post("/api/andons", json={**body, "station": "st4"})
    assert (other.status_code, other.json()["id"]) == (201, 2)
    state = client.get("/api/lines/line1/state").json()
    assert [(a["id"], a["station"], a["state"]) for a in state["open_andons"]] == [
        (1, "st3", "raised"),
        (2, "st4", "raised"),
    ]


def test_acknowledge_and_resolve_keep_who_did_it(client: TestClient) -> None:
    call_id = client.post("/api/andons", json={"line": "line1", "station": "st2", "category": "quality"}).json()["id"]
    ack = client.post(f"/api/andons/{call_id}/acknowledge", json={"by": "badge-0042"}).json()
    assert (ack["state"], ack["acknowledged_by"]) == ("acknowledged", "badge-0042")
    assert client.post(f"/api/andons/{call_id}/resolve", json={"by": ""}).status_code == 422
    done = client.post(f"/api/andons/{call_id}/resolve", json={"note": "done", "by": "ann"}).json()
    assert (done["state"], done["resolved_by"], done["note"]) == ("resolved", "ann", "done")
    other = client.post("/api/andons", json={"line": "line1", "station": "st3", "category": "quality"}).json()
    without = client.post(f"/api/andons/{other['id']}/acknowledge").json()
    assert without["acknowledged_by"] == other["raised_by"]  # the token's name (the open demo's), as before


def test_lifecycle_times_and_reraise_after_resolve(client: TestClient, clock: ManualClock) -> None:
    body = {"line": "line1", "station": "st1", "category": "quality"}
    call_id = client.post("/api/andons", json=body).json()["id"]
    clock.advance(42)
    ack = client.post(f"/api/andons/{call_id}/acknowledge", json={"note": "on my way"}).json()
    assert (ack["state"], ack["acknowledged_at"], ack["age_seconds"], ack["note"]) == (
        "acknowledged",
        "2026-11-25T07:30:42+00:00",
        42.0,
        "on my way",
    )
    assert client.post("/api/andons", json=body).json()["id"] == call_id  # still open
    clock.advance(100)
    done = client.post(f"/api/andons/{call_id}/resolve").json()
    assert (done["state"], done["resolved_at"], done["age_seconds"]) == ("resolved", "2026-11-25T07:32:22+00:00", 142.0)
    assert client.post(f"/api/andons/{call_id}/resolve").status_code == 409
    assert client.post(f"/api/andons/{call_id}/acknowledge").status_code == 409
    assert client.post("/api/andons", json=body).status_code == 201  # a new call now
    assert [c["state"] for c in client.get("/api/andons?line=line1").json()] == ["raised", "resolved"]
    assert [c["id"] for c in client.get("/api/andons?state=resolved").json()] == [call_id]
    assert client.get("/api/lines/line1/state").json()["open_andons"][0]["id"] == call_id + 1


def test_escalation_climbs_tiers_on_the_clock(client: TestClient, clock: ManualClock) -> None:
    andons = client.services.andons  # type: ignore[attr-defined]
    events: list[tuple[str, int, str]] = []
    andons.listeners.append(lambda m: events.append((m["event"], m["call"]["id"], m["call"]["tier"])))
    call_id = client.post("/api/andons", json={"line": "line1", "station": "st2", "category": "maintenance"}).json()[
        "id"
    ]
    clock.advance(119)
    assert andons.escalate() == []
    clock.advance(1)
    assert [c["tier"] for c in andons.escalate()] == ["supervisor"]
    assert andons.escalate() == []
    clock.advance(300 - 120)  # manager after 5 takts of 60 s
    assert [c["tier"] for c in andons.escalate()] == ["manager"]
    call = client.get(f"/api/andons/{call_id}").json()
    assert [(e["tier"], e["at"]) for e in call["escalations"]] == [
        ("supervisor", "2026-11-25T07:32:00+00:00"),
        ("manager", "2026-11-25T07:35:00+00:00"),
    ]
    assert events == [("raised", 1, "team_leader"), ("escalated", 1, "supervisor"), ("escalated", 1, "manager")]


def test_acknowledged_calls_do_not_escalate_and_safety_has_its_own_tiers(
    client: TestClient, clock: ManualClock
) -> None:
    andons = client.services.andons  # type: ignore[attr-defined]
    quiet = client.post("/api/andons", json={"line": "line1", "station": "a", "category": "quality"}).json()["id"]
    client.post(f"/api/andons/{quiet}/acknowledge")
    safety = client.post("/api/andons", json={"line": "line1", "station": "b", "category": "safety"}).json()
    assert safety["tier"] == "supervisor"
    clock.advance(600)
    escalated = andons.escalate()
    assert [(c["id"], c["tier"]) for c in escalated] == [(safety["id"], "plant_manager")]


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"line": "line1", "station": "st1", "category": "coffee"}, 422, "no andon category 'coffee'"),
        ({"line": "nope", "station": "st1", "category": "quality"}, 404, "no line 'nope'"),
        ({"line": "line1", "station": "", "category": "quality"}, 422, "station"),
        ({"line": "line1", "station": "   ", "category": "quality"}, 422, "station must not be empty"),
        ({"line": "line1", "category": "quality"}, 422, "station: Field required"),
        ({"line": "line1", "station": "s", "category": "quality", "x": 1}, 422, "x: Extra inputs"),
    ],
)
def test_bad_raise(client: TestClient, body: dict[str, object], status: int, says: str) -> None:
    r = client.post("/api/andons", json=body)
    assert r.status_code == status and says in r.json()["detail"]


def test_unknown_call_ids(client: TestClient) -> None:
    assert client.post("/api/andons/99/acknowledge").status_code == 404
    assert client.get("/api/andons/99").json()["detail"] == "no andon call 99"
    assert client.get("/api/andons/abc").status_code == 422
    assert client.get("/api/andons?state=sleeping").status_code == 422
