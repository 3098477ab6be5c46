"""The product, schedule and work-order routes: roles, exact answers, refusals, the /ws events and the CSV."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from andon.clock import ManualClock
from tests.api.api_fixtures import AUTH, api, bearer
from tests.core.engine_fixtures import utc
from tests.core.test_products_plant import CONFIG

SUP, OP = bearer("supervisor"), bearer("operator")


def at(hhmm: str) -> float:
    """Return epoch seconds of a time on 2026-11-25 (UTC)."""
    return utc(f"2026-11-25 {hhmm}")


@pytest.fixture
def clock() -> ManualClock:
    """The plant's clock at 10:10."""
    return ManualClock(at("10:10"))


@pytest.fixture
def client(tmp_path: Path, clock: ManualClock) -> Iterator[TestClient]:
    """The API over the products config, with tokens."""
    with api(tmp_path, clock, text=CONFIG + AUTH.replace("PUBLIC", "true")) as c:
        yield c


def test_setting_the_product_needs_a_supervisor_and_answers_the_run(client: TestClient) -> None:
    body = {"product": "B", "at": "2026-11-25T10:05:00+00:00", "work_order": "WO-9"}
    assert client.put("/api/lines/l1/product", json=body).status_code == 401
    assert client.put("/api/lines/l1/product", json=body, headers=OP).status_code == 403
    r = client.put("/api/lines/l1/product", json=body, headers=SUP)
    assert r.status_code == 200
    assert r.json() == {"changed": True, "run": {
        "id": 1, "line": "l1", "product": "B", "name": "Bracket", "start": "2026-11-25T10:05:00+00:00", "end": None,
        "work_order": "WO-9", "source": "api", "set_by": "supervisor-token", "changeover": None}}
    again = client.put("/api/lines/l1/product", json=body, headers=SUP).json()
    assert (again["changed"], again["run"]["id"]) == (False, 1)
    state = client.get("/api/lines/l1/state").json()
    assert state["product"] == {"id": "B", "name": "Bracket", "since": "2026-11-25T10:05:00+00:00",
                                "takt_seconds": 45.0, "ideal_cycle_seconds": 38.0}
    assert state["work_order"]["id"] == "WO-9" and state["work_order"]["quantity"] is None
    runs = client.get("/api/lines/l1/runs?from=2026-11-25T06:00:00Z&to=2026-11-25T14:00:00Z").json()
    assert [(r["product"], r["start"], r["end"]) for r in runs] == [("B", "2026-11-25T10:05:00+00:00", None)]


def test_a_second_change_opens_a_changeover_against_the_target(client: TestClient, clock: ManualClock) -> None:
    client.put("/api/lines/l1/product", json={"product": "A", "at": at("06:00")}, headers=SUP)
    r = client.put("/api/lines/l1/product", json={"product": "B"}, headers=SUP).json()
    assert r["run"]["changeover"] == {"from_product": "A", "target_seconds": 900.0, "end": None,
                                      "target_end": "2026-11-25T10:25:00+00:00"}
    runs = client.get("/api/lines/l1/runs").json()
    assert [(r["product"], r["end"]) for r in runs] == [("A", "2026-11-25T10:10:00+00:00"), ("B", None)]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"product": "Z"}, 422, "cannot run product 'Z'; it runs A, B"),
        ({"product": "B", "at": "2026-11-25T11:00:00+00:00"}, 422, "in the future"),
        ({"product": "B", "at": "yesterday"}, 422, "is not a time"),
        ({"product": "B", "at": 1e300}, 422, "is not a time"),
        ({"product": "B", "at": True}, 422, "not true or false"),
        ({"product": "B x"}, 422, "product"),
        ({"product": "B", "work_order": "W" * 65}, 422, "work_order"),
        ({"product": "B", "colour": "red"}, 422, "colour"),
    ],
)
def test_bad_product_changes_are_refused_with_the_reason(
    client: TestClient, body: dict[str, Any], status: int, words: str
) -> None:
    r = client.put("/api/lines/l1/product", json=body, headers=SUP)
    assert r.status_code == status and words in r.json()["detail"]
    assert client.get("/api/lines/l1/runs").json() == []


def test_a_change_before_the_last_one_conflicts_and_a_line_without_products_refuses(client: TestClient) -> None:
    client.put("/api/lines/l1/product", json={"product": "A", "at": at("09:00")}, headers=SUP)
    r = client.put("/api/lines/l1/product", json={"product": "B", "at": at("08:59")}, headers=SUP)
    assert r.status_code == 409 and "after the last one" in r.json()["detail"]
    r = client.put("/api/lines/l2/product", json={"product": "A"}, headers=SUP)
    assert r.status_code == 409 and "no products" in r.json()["detail"]
    assert client.put("/api/lines/nope/product", json={"product": "A"}, headers=SUP).status_code == 404


def test_schedule_marks_not_scheduled_and_back(client: TestClient, clock: ManualClock) -> None:
    r = client.put("/api/lines/l2/schedule", json={"scheduled": False, "reason": "no crew"}, headers=SUP)
    assert r.status_code == 200
    assert r.json() == {"line": "l2", "not_scheduled": [{"start": "2026-11-25T10:10:00+00:00", "end": None,
                                                         "reason": "no crew", "until_first_count": False,
                                                         "set_by": "supervisor-token"}]}
    clock.set(at("10:40"))
    state = client.get("/api/lines/l2/state").json()
    assert (state["condition"], state["reason"], state["scheduled"]) == ("off", "not scheduled", False)
    client.put("/api/lines/l2/schedule", json={"scheduled": True}, headers=SUP)
    shown = client.get("/api/lines/l2/schedule").json()["not_scheduled"]
    assert [(p["start"], p["end"]) for p in shown] == [("2026-11-25T10:10:00+00:00", "2026-11-25T10:40:00+00:00")]
    board = client.get("/api/lines/l2/board").json()
    assert [r["planned"] for r in board["rows"]][4] == 120 - 60  # 10:10-10:40 leaves the hour: 30 min at takt 30
    assert client.put("/api/lines/l2/schedule", json={"scheduled": False}, headers=OP).status_code == 403
    bad = client.put("/api/lines/l2/schedule", json={"scheduled": False, "from": at("11:00"), "to": at("10:00")},
                     headers=SUP)
    assert bad.status_code == 422 and "before it starts" in bad.json()["detail"]


def test_work_orders_are_created_started_listed_and_completed(client: TestClient, clock: ManualClock) -> None:
    body = {"id": "WO-1", "line": "l1", "product": "A", "quantity": 50, "due": "2026-11-25T13:00:00+00:00"}
    assert client.post("/api/work-orders", json=body, headers=OP).status_code == 403
    r = client.post("/api/work-orders", json=body, headers=SUP)
    assert r.status_code == 201
    assert r.json() == {"id": "WO-1", "line": "l1", "product": "A", "quantity": 50,
                        "due": "2026-11-25T13:00:00+00:00", "state": "planned", "made": 0, "remaining": 50,
                        "expected_finish": None, "created_at": "2026-11-25T10:10:00+00:00",
                        "created_by": "supervisor-token", "started_at": None, "completed_at": None}
    assert client.post("/api/work-orders", json=body, headers=SUP).status_code == 409
    wrong = client.post("/api/work-orders", json={**body, "id": "WO-2", "product": "Q"}, headers=SUP)
    assert wrong.status_code == 422 and "cannot run product 'Q'" in wrong.json()["detail"]
    started = client.post("/api/work-orders/WO-1/start", headers=SUP).json()
    assert (started["state"], started["started_at"]) == ("started", "2026-11-25T10:10:00+00:00")
    clock.set(at("10:20"))
    client.post("/api/lines/l1/counts", json={"count": 10, "ts": at("10:19")}, headers=OP)
    listed = client.get("/api/work-orders?line=l1&state=started").json()
    # 10 parts in 600 s: 40 more take 2,400 s: 11:00.
    assert [(o["id"], o["made"], o["remaining"], o["expected_finish"]) for o in listed] == [
        ("WO-1", 10, 40, "2026-11-25T11:00:00+00:00")]
    assert client.get("/api/work-orders?state=planned").json() == []
    assert client.get("/api/work-orders?state=nonsense").status_code == 422
    assert client.get("/api/work-orders?line=nope").status_code == 404
    done = client.post("/api/work-orders/WO-1/complete", headers=SUP).json()
    assert (done["state"], done["made"], done["completed_at"]) == ("completed", 10, "2026-11-25T10:20:00+00:00")
    assert client.post("/api/work-orders/WO-1/complete", headers=SUP).status_code == 409
    assert client.post("/api/work-orders/WO-404/start", headers=SUP).status_code == 404


def test_orders_load_from_a_csv_body_all_or_nothing(client: TestClient) -> None:
    good = "id,line,product,quantity,due\nWO-5,l1,A,10,2026-11-26T06:00:00Z\nWO-6,l1,B,20,\n"
    bad = good + "WO-7,l1,Q,5,\n"
    r = client.post("/api/work-orders/import", content=bad, headers={**SUP, "Content-Type": "text/csv"})
    assert r.status_code == 422 and r.json()["detail"] == (
        "line 4: line 'l1' cannot run product 'Q'; it runs A, B")
    assert client.get("/api/work-orders").json() == []
    r = client.post("/api/work-orders/import", content=good, headers={**SUP, "Content-Type": "text/csv"})
    assert r.json() == {"created": ["WO-5", "WO-6"], "skipped": [], "errors": []}
    r = client.post("/api/work-orders/import", content=good, headers={**SUP, "Content-Type": "text/csv"})
    assert r.json() == {"created": [], "skipped": ["WO-5", "WO-6"], "errors": []}
    assert [(o["id"], o["due"]) for o in client.get("/api/work-orders").json()] == [
        ("WO-5", "2026-11-26T06:00:00+00:00"), ("WO-6", None)]


def test_product_and_work_order_changes_go_out_on_the_stream(client: TestClient) -> None:
    client.post("/api/work-orders", json={"id": "WO-3", "line": "l1", "product": "B", "quantity": 5}, headers=SUP)
    with client.websocket_connect("/ws") as ws:
        client.post("/api/work-orders/WO-3/start", headers=SUP)
        # The events and the new state come in the order the live hub sends them: gather until all are seen.
        seen: dict[str, dict[str, Any]] = {}
        for _ in range(100):
            message = ws.receive_json()
            if message["type"] == "state" and message["line"] == "l1" and message["state"]["work_order"]:
                seen.setdefault("state", message)
            elif message["type"] in ("product", "work_order"):
                seen.setdefault(message["type"], message)
            if len(seen) == 3:
                break
    product, order, state = seen["product"], seen["work_order"], seen["state"]
    assert (product["line"], product["run"]["product"], product["run"]["work_order"]) == ("l1", "B", "WO-3")
    assert (order["action"], order["order"]["id"], order["order"]["state"]) == ("started", "WO-3", "started")
    assert (state["state"]["product"]["id"], state["state"]["work_order"]["id"]) == ("B", "WO-3")


def test_the_board_csv_names_the_products_of_each_row(client: TestClient, clock: ManualClock) -> None:
    client.put("/api/lines/l1/product", json={"product": "A", "at": at("06:00")}, headers=SUP)
    client.put("/api/lines/l1/product", json={"product": "B", "at": at("10:05")}, headers=SUP)
    lines = client.get("/api/lines/l1/board?format=csv").text.splitlines()
    header = lines[0].split(",")
    assert header[header.index("trust") + 1] == "products"
    column = header.index("products")
    assert [next(csv.reader([row]))[column] for row in lines[1:]] == ["A", "A", "A", "A", "A;B", "B", "B", "B"]
    board = client.get("/api/lines/l1/board").json()
    assert [(r["product"], r["start"], r["end"]) for r in board["runs"]] == [
        ("A", "2026-11-25T06:00:00+00:00", "2026-11-25T10:05:00+00:00"), ("B", "2026-11-25T10:05:00+00:00", None)]
    assert client.get("/api/lines").json()[0]["products"] == [
        {"id": "A", "name": "Axle", "takt_seconds": 60.0, "demand_per_shift": None, "ideal_cycle_seconds": 50.0,
         "parts_per_cycle": None},
        {"id": "B", "name": "Bracket", "takt_seconds": 45.0, "demand_per_shift": None, "ideal_cycle_seconds": 38.0,
         "parts_per_cycle": 4}]


@pytest.fixture(scope="module")
def production_cases(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Fuzzed requests to the production routes of a plant with products (open API: every route reachable)."""
    import schemathesis
    from hypothesis import strategies as st
    from schemathesis import GenerationMode

    from andon.api.app import create_app
    from andon.services import services_for
    from tests.core.plant_fixtures import make_config, make_plant

    folder = tmp_path_factory.mktemp("products-schema")
    plant = make_plant(make_config(folder, CONFIG), ManualClock(at("10:10")))
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(services_for(plant))).include(tag="production")
    return st.one_of(schema.as_strategy(), schema.as_strategy(generation_mode=GenerationMode.NEGATIVE))


def test_no_input_to_the_production_routes_makes_a_server_error(production_cases: Any) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from schemathesis.checks import not_a_server_error

    @given(data=st.data())
    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    def fuzz(data: st.DataObject) -> None:
        case = data.draw(production_cases)
        # Mostly real lines, so the fuzzed bodies reach the services and not only the 404 of an unknown line.
        if "line" in (case.path_parameters or {}) and data.draw(st.booleans()):
            case.path_parameters["line"] = data.draw(st.sampled_from(["l1", "l2"]))
        if isinstance(case.body, dict) and "line" in case.body and data.draw(st.booleans()):
            case.body["line"] = "l1"
        response = case.call()
        case.validate_response(response, checks=[not_a_server_error])
        assert response.status_code < 500

    fuzz()
