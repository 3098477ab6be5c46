"""No secret leaks: the WebSocket takes its token in a header or its first message, never the URL;
/metrics follows public_read; board CSV cells a spreadsheet would run are neutralised."""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

import pytest
from starlette.websockets import WebSocketDisconnect

from andon.board import board_csv
from andon.clock import ManualClock
from tests.api.api_fixtures import api, bearer
from tests.core.engine_fixtures import utc

CLOCK = "2026-11-25 07:30"
URL_REFUSED = ("token in the URL refused (URLs are logged): send an Authorization header or a first message "
               "{type: auth}")
NO_TOKEN = "reads need a token: an Authorization header or a first message {type: auth, token}"


@pytest.mark.parametrize("public", [True, False])
def test_a_token_in_the_websocket_url_is_refused_with_a_reason(tmp_path: Path, public: bool) -> None:
    with api(tmp_path, ManualClock(utc(CLOCK)), auth=True, public=public) as client:
        with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect("/ws?token=op-secret") as ws:
            ws.receive_json()
        assert (closed.value.code, closed.value.reason) == (4400, URL_REFUSED)


def test_closed_reads_take_the_token_in_a_header_or_the_first_message(tmp_path: Path) -> None:
    with api(tmp_path, ManualClock(utc(CLOCK)), auth=True, public=False) as client:
        with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect("/ws") as ws:
            ws.send_json({"type": "hello"})
            ws.receive_json()
        assert (closed.value.code, closed.value.reason) == (4401, NO_TOKEN)
        with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect("/ws") as ws:
            ws.send_json({"type": "auth", "token": "wrong"})
            ws.receive_json()
        assert (closed.value.code, closed.value.reason) == (4401, NO_TOKEN)
        with (client.websocket_connect("/ws", headers={"Authorization": "Bearer wrong"}) as ws,
              pytest.raises(WebSocketDisconnect) as closed):
            ws.receive_json()
        assert closed.value.code == 4401
        with client.websocket_connect("/ws") as ws:
            ws.send_json({"type": "auth", "token": "op-secret"})
            first = [ws.receive_json(), ws.receive_json()]
        assert [(m["type"], m["line"]) for m in first] == [("state", "line1"), ("state", "line2")]
        with client.websocket_connect("/ws", headers=bearer("supervisor")) as ws:
            assert ws.receive_json()["line"] == "line1"


def test_public_reads_need_no_token_and_ignore_an_auth_message(tmp_path: Path) -> None:
    with api(tmp_path, ManualClock(utc(CLOCK)), auth=True, public=True) as client, \
            client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "auth", "token": "op-secret"})
        assert ws.receive_json()["type"] == "state"
        client.post("/api/lines/line1/counts", json={"count": 2}, headers=bearer("operator"))
        for _ in range(20):
            message = ws.receive_json()
            if message["type"] == "state" and message["state"]["actual_to_date"] == 2:
                break
        else:
            raise AssertionError("no state with the count")


@pytest.mark.parametrize(("public", "without", "with_token"), [(False, 401, 200), (True, 200, 200)])
def test_metrics_follow_public_read(tmp_path: Path, public: bool, without: int, with_token: int) -> None:
    with api(tmp_path, ManualClock(utc(CLOCK)), auth=True, public=public) as client:
        reply = client.get("/metrics")
        assert reply.status_code == without
        if without == 401:
            assert reply.json() == {"detail": "reads need a bearer token here (auth.public_read is false)"}
            assert "andon_events_accepted" not in reply.text
        reply = client.get("/metrics", headers=bearer("operator"))
        assert reply.status_code == with_token and "andon_events_accepted" in reply.text


def test_no_token_in_any_log_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with api(tmp_path, ManualClock(utc(CLOCK)), auth=True, public=False) as client:
        client.get("/metrics", headers=bearer("engineer"))
        client.post("/api/lines/line1/counts", json={"count": 1}, headers=bearer("operator"))
        client.get("/api/lines/line1/board", headers={"Authorization": "Bearer not-a-token-xyz"})
        with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws?token=sup-secret") as ws:
            ws.receive_json()
        with client.websocket_connect("/ws") as ws:
            ws.send_json({"type": "auth", "token": "op-secret"})
            ws.receive_json()
    text = caplog.text
    assert caplog.records  # the run did log (start-up, refusals)
    for secret in ("op-secret", "sup-secret", "eng-secret", "not-a-token-xyz"):
        assert secret not in text


@pytest.mark.parametrize(
    ("reason", "cell"),
    [
        ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTAB", "'\tTAB"),
        ("\r=1", "'\r=1"),
        ("jam at st3", "jam at st3"),
        ("3 parts short", "3 parts short"),
    ],
)
def test_csv_cells_a_spreadsheet_would_run_are_neutralised(tmp_path: Path, reason: str, cell: str) -> None:
    with api(tmp_path, ManualClock(utc(CLOCK))) as client:
        client.post("/api/lines/line1/counts", json={"count": 3})
        put = client.put("/api/lines/line1/board/reason", json={"start": "2026-11-25T06:00:00+00:00", "reason": reason})
        assert put.status_code == 200, put.text
        text = client.get("/api/lines/line1/board?format=csv").text
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert rows[0]["reason"] == cell
    # Numbers stay numbers, negative ones too (the current row: 3 made against 30 planned so far).
    assert rows[1]["actual"] == "3" and rows[1]["delta"] == "-27"


def test_csv_keeps_negative_numbers_and_marks_text_only() -> None:
    board = {"timezone": "UTC", "rows": [{
        "start": "2026-11-25T06:00:00+00:00", "end": "2026-11-25T07:00:00+00:00", "planned": 60,
        "planned_so_far": 60, "actual": 0, "delta": -60, "cum_planned": 60, "cum_planned_so_far": 60,
        "cum_actual": 0, "cum_delta": -60, "scrap": 0, "condition": "abnormal", "current": False,
        "reason_required": True, "reason": "-", "problem_id": None, "problem_status": None, "trust": ["manual"],
    }]}
    lines = board_csv(board).splitlines()
    assert lines[1] == ("2026-11-25T06:00:00+00:00,2026-11-25T07:00:00+00:00,2026-11-25T06:00:00+00:00,"
                        "2026-11-25T07:00:00+00:00,60,60,0,-60,60,60,0,-60,0,abnormal,false,true,'-,,,manual,,,,,,,,,,")
