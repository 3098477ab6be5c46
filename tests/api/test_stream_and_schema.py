"""The live WebSocket stream, and the whole OpenAPI surface fuzzed by schemathesis (no 5xx)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from andon.api.app import create_app
from andon.clock import ManualClock
from andon.services import services_for
from tests.api.api_fixtures import api, config_text
from tests.core.engine_fixtures import utc
from tests.core.plant_fixtures import CONFIG, make_config, make_plant


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with api(tmp_path, ManualClock(utc("2026-11-25 07:30"))) as c:
        yield c


def receive_until(ws: Any, want: Any, limit: int = 50) -> dict[str, Any]:
    for _ in range(limit):
        message = ws.receive_json()
        if want(message):
            return message  # type: ignore[no-any-return]
    raise AssertionError("message not received")


def test_websocket_sends_state_then_updates_after_a_count(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        first = [ws.receive_json(), ws.receive_json()]
        assert [(m["type"], m["line"]) for m in first] == [("state", "line1"), ("state", "line2")]
        assert first[0]["state"]["actual_to_date"] == 0
        client.post("/api/lines/line1/counts", json={"count": 7})
        update = receive_until(ws, lambda m: m["type"] == "state" and m["state"]["actual_to_date"] == 7)
        assert (update["line"], update["state"]["delta"]) == ("line1", 7 - 90)


def receive_both(ws: Any, first: Any, second: Any, limit: int = 50) -> tuple[dict[str, Any], dict[str, Any]]:
    """Receive until one message meets each test, in whichever order they come."""
    found: list[dict[str, Any] | None] = [None, None]
    for _ in range(limit):
        message = ws.receive_json()
        for index, want in enumerate((first, second)):
            if found[index] is None and want(message):
                found[index] = message
        if found[0] is not None and found[1] is not None:
            return found[0], found[1]
    raise AssertionError("messages not received")


def test_websocket_sends_andon_events(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        call = client.post("/api/andons", json={"line": "line1", "station": "st9", "category": "safety"}).json()
        # The once-a-second tick may see the stored call before the event is sent: the state can come first.
        raised, state = receive_both(ws, lambda m: m["type"] == "andon",
                                     lambda m: m["type"] == "state" and m["state"]["open_andons"])
        assert (raised["event"], raised["call"]["id"], raised["call"]["station"]) == ("raised", call["id"], "st9")
        assert state["state"]["open_andons"][0]["category"] == "safety"
        client.post(f"/api/andons/{call['id']}/resolve")
        resolved = receive_until(ws, lambda m: m["type"] == "andon" and m["event"] == "resolved")
        assert resolved["call"]["state"] == "resolved"


def test_closed_reads_need_a_token_on_the_websocket(tmp_path: Path) -> None:
    from starlette.websockets import WebSocketDisconnect

    with api(tmp_path, ManualClock(utc("2026-11-25 07:30")), auth=True, public=False) as client:
        with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect("/ws") as ws:
            ws.receive_json()
        assert closed.value.code == 4401
        with client.websocket_connect("/ws", headers={"Authorization": "Bearer op-secret"}) as ws:
            assert ws.receive_json()["type"] == "state"


def _schema_app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("schema")
    clock = ManualClock(utc("2026-11-25 07:30"))
    config = make_config(folder, config_text())
    plant = make_plant(config, clock)
    return create_app(services_for(plant))


@pytest.fixture(scope="module")
def api_cases(tmp_path_factory: pytest.TempPathFactory) -> Any:
    # Drawn inside a plain Hypothesis test: schemathesis's lazy pytest fixture fails on pytest 9.
    schema = schemathesis.openapi.from_asgi("/openapi.json", _schema_app(tmp_path_factory))
    return st.one_of(schema.as_strategy(), schema.as_strategy(generation_mode=GenerationMode.NEGATIVE))


@given(data=st.data())
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_a_server_error(api_cases: Any, data: st.DataObject) -> None:
    case = data.draw(api_cases)
    response = case.call()
    case.validate_response(response, checks=[not_a_server_error])
    assert response.status_code < 500


def test_websocket_sends_problem_and_board_changes(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        ws.receive_json(), ws.receive_json()
        pid = client.post("/api/problems", json={"title": "Jams", "line": "line1"}).json()["id"]
        created = receive_until(ws, lambda m: m["type"] == "problem")
        assert (created["problem"]["id"], created["problem"]["status"]) == (pid, "open")
        assert receive_until(ws, lambda m: m["type"] == "board") == {"type": "board", "line": "line1"}
        client.patch(f"/api/problems/{pid}", json={"status": "do"})
        moved = receive_until(ws, lambda m: m["type"] == "problem")
        assert (moved["problem"]["id"], moved["problem"]["status"]) == (pid, "do")
        client.put("/api/lines/line1/board/reason", json={"start": "2026-11-25T06:00:00+00:00", "reason": "jam"})
        assert receive_until(ws, lambda m: m["type"] == "board") == {"type": "board", "line": "line1"}


def test_a_burst_of_counts_sends_fewer_states_and_always_the_last(client: TestClient) -> None:
    # The hub's leading-edge interval is 5 ms, shorter than one HTTP round trip through the test
    # client on a busy machine; a 0.5 s interval makes "fewer" independent of this machine's speed.
    client.services.hub.min_interval = 0.5  # type: ignore[attr-defined]
    with client.websocket_connect("/ws") as ws:
        ws.receive_json(), ws.receive_json()
        for _ in range(30):
            client.post("/api/lines/line1/counts", json={"count": 1})
        states = []
        while not states or states[-1]["state"]["actual_to_date"] != 30:
            message = ws.receive_json()
            if message["type"] == "state" and message["line"] == "line1":
                states.append(message)
        assert [s["state"]["actual_to_date"] for s in states] == sorted(s["state"]["actual_to_date"] for s in states)
        assert len(states) < 30  # at most one state per line every 0.5 s, and the last one always


def test_a_count_taken_before_the_hub_starts_does_not_hold_back_later_states(tmp_path: Path) -> None:
    # Sources start before the app's loop: a count then finds no loop to wake. The hub must still send
    # each later change at once, not only with its once-a-second tick (no tick runs here).
    clock = ManualClock(utc("2026-11-25 07:30"))
    services = services_for(make_plant(make_config(tmp_path), clock))
    services.plant.post_count("line1", 2)
    seen: list[int] = []
    services.hub.state_listeners.append(lambda line, state: seen.append(state.document["actual_to_date"] or 0))

    async def main() -> None:
        services.hub.start(asyncio.get_running_loop())
        for _ in range(100):
            await asyncio.sleep(0.01)
            if seen:
                break
        services.plant.post_count("line1", 3)
        for _ in range(100):
            await asyncio.sleep(0.01)
            if seen[-1:] == [5]:
                break

    asyncio.run(main())
    assert seen == [2, 5]
    services.plant.close()


def test_the_tick_holds_back_no_count_and_lets_the_loop_in_between_lines(tmp_path: Path) -> None:
    # Ten lines: the tick computes four a pass of the loop, so what the loop has to do meanwhile (a count read)
    # waits for four lines at most, not the whole plant; and a count right after its line's tick is sent at
    # once, not after the throttle's interval (which the tick does not count).
    extra = "".join(f"  - {{{{id: extra{i}, takt_seconds: 60, sources: []}}}}\n" for i in range(8))
    clock = ManualClock(utc("2026-11-25 07:30"))
    services = services_for(make_plant(make_config(tmp_path, CONFIG + extra), clock))
    hub = services.hub
    computed: list[str] = []
    sent: list[str] = []
    document = hub.states.document

    def noted(line_id: str) -> Any:
        computed.append(line_id)
        return document(line_id)

    hub.states.document = noted  # type: ignore[method-assign]
    hub.state_listeners.append(lambda line, state: sent.append(f"{line}={state.document['actual_to_date']}"))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        hub.start(loop)
        for line in services.plant.lines.values():  # the shift's first stops and the states they change, done
            services.states.stops.tick_line(line)
        await asyncio.sleep(0.3)
        hub.min_interval = 0.2
        computed.clear()
        tick = asyncio.create_task(hub.tick(period=0.8))  # (a line computed 0.3 s ago is not fresh for it)
        loop.call_soon(lambda: computed.append("other work"))
        for _ in range(1000):
            if len(computed) == 11:
                break
            await asyncio.sleep(0)
        services.plant.post_count("line1", 2)
        for _ in range(3):
            await asyncio.sleep(0)
        tick.cancel()

    asyncio.run(main())
    assert computed[:5] == ["line1", "line2", "extra0", "extra1", "other work"]
    assert computed[5:] == [f"extra{i}" for i in range(2, 8)] + ["line1"]
    assert sent[-1] == "line1=2"
    services.plant.close()
