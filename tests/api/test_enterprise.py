"""The enterprise view: this plant beside other plants' real servers; one that cannot be read says why."""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from andon.clock import ManualClock
from andon.config.loader import ConfigError, parse_config
from andon.runtime import build_services
from tests.api.api_fixtures import api
from tests.conftest import free_port
from tests.core.engine_fixtures import utc
from tests.servers import RealServer

SHIFTS = """shifts:
  - {{id: day, start: "06:00", end: "14:00"}}
"""
HERE = """plant: {{name: Hull works, timezone: UTC}}
database: sqlite:///{db}
""" + SHIFTS + """lines:
  - {{id: h1, name: Hull 1, takt_seconds: 60, sources: [{{type: http, id: http}}]}}
enterprise:
  timeout_seconds: 0.5
  plants:
"""
LEEDS = """plant: {{name: Leeds works, timezone: UTC}}
database: sqlite:///{db}
auth:
  public_read: false
  tokens: [{{name: hq, role: operator, token_sha256: "{sha}"}}]
""" + SHIFTS + """lines:
  - {{id: l1, name: Leeds 1, takt_seconds: 60, sources: [{{type: http, id: http}}]}}
  - {{id: l2, name: Leeds 2, takt_seconds: 30, sources: [{{type: http, id: http}}]}}
"""
TOKEN = "hq-secret-1"


class NotAndon(BaseHTTPRequestHandler):
    """A web server that is not an andon server: a JSON list of numbers."""

    def do_GET(self) -> None:  # noqa: N802 (the handler's name is the standard library's)
        body = b"[1, 2, 3]"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def leeds(tmp_path: Path) -> Iterator[RealServer]:
    """Leeds: reads need a token; at 07:00 line l1 made 50 of 60, l2 130 of 120 with an open andon call."""
    clock = ManualClock(utc("2026-11-26 07:00"))
    sha = hashlib.sha256(TOKEN.encode()).hexdigest()
    services = build_services(parse_config(LEEDS.format(db=tmp_path / "leeds.db", sha=sha)), clock)
    srv = RealServer(services)
    srv.start()
    with srv.client(TOKEN) as c:
        assert c.post("/api/lines/l1/counts", json={"count": 50, "ts": utc("2026-11-26 06:59")}).status_code == 201
        assert c.post("/api/lines/l2/counts", json={"count": 130, "ts": utc("2026-11-26 06:59")}).status_code == 201
        assert c.post("/api/andons", json={"line": "l2", "station": "st1", "category": "quality"}).status_code == 201
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture
def not_andon() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), NotAndon)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def silent() -> Iterator[str]:
    """A port that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def test_every_plant_is_shown_and_the_unreachable_ones_say_why(
    tmp_path: Path, leeds: RealServer, not_andon: str, silent: str,
) -> None:
    plants = (
        f"    - {{{{id: leeds, url: '{leeds.url}', token: {TOKEN}}}}}\n"
        f"    - {{{{id: york, name: York works, url: '{leeds.url}', token: wrong}}}}\n"
        f"    - {{{{id: goole, url: 'http://127.0.0.1:{free_port()}'}}}}\n"
        f"    - {{{{id: selby, url: '{not_andon}'}}}}\n"
        f"    - {{{{id: whitby, url: '{silent}/'}}}}\n"
    )
    clock = ManualClock(utc("2026-11-26 07:00"))
    with api(tmp_path, clock, text=HERE + plants) as client:
        assert client.post("/api/lines/h1/counts", json={"count": 61, "ts": utc("2026-11-26 06:59")}).status_code \
            == 201
        r = client.get("/api/enterprise")
        assert r.status_code == 200, r.text
        view = r.json()
    by_id = {p["id"]: p for p in view["plants"]}
    assert list(by_id) == ["local", "leeds", "york", "goole", "selby", "whitby"]
    assert {k: by_id["local"][k] for k in ("name", "url", "reachable", "plan_to_date", "actual_to_date", "delta")} \
        == {"name": "Hull works", "url": None, "reachable": True, "plan_to_date": 60, "actual_to_date": 61, "delta": 1}
    leeds_view = by_id["leeds"]
    assert [(x["line"], x["name"], x["plan_to_date"], x["actual_to_date"], x["delta"], x["open_andons"])
            for x in leeds_view["lines"]] == [("l1", "Leeds 1", 60, 50, -10, 0), ("l2", "Leeds 2", 120, 130, 10, 1)]
    assert {k: leeds_view[k] for k in ("reachable", "error", "plan_to_date", "actual_to_date", "delta", "open_andons",
                                       "abnormal")} == {
        "reachable": True, "error": None, "plan_to_date": 180, "actual_to_date": 180, "delta": 0, "open_andons": 1,
        "abnormal": 1,  # l1: ten behind
    }
    assert {p: (by_id[p]["reachable"], by_id[p]["error"]) for p in ("york", "selby", "whitby")} == {
        "york": (False, "HTTP 401: 'unknown token'"),
        "selby": (False, "the answer is not an andon server's line list"),
        "whitby": (False, "no answer within 0.5 s"),
    }
    assert by_id["york"]["name"] == "York works"
    assert (by_id["goole"]["reachable"], by_id["goole"]["error"].startswith("cannot connect: ConnectError")) == (
        False, True)
    assert all(by_id[p]["lines"] == [] and by_id[p]["delta"] is None for p in ("york", "goole", "selby", "whitby"))
    assert view["totals"] == {
        "plants": 6, "reachable": 2, "lines": 3, "plan_to_date": 240, "actual_to_date": 241, "delta": 1,
        "abnormal": 1, "warning": 0, "stale": 0, "open_andons": 1,
    }


def test_enterprise_config_mistakes_are_config_errors(tmp_path: Path) -> None:
    base = (HERE.format(db=tmp_path / "a.db")).replace("{{", "{").replace("}}", "}")
    for plants, message in [
        ("    - {id: a, url: 'ftp://x'}\n", "String should match pattern"),
        ("    - {id: a, url: 'http://x'}\n    - {id: a, url: 'http://y'}\n", "duplicate plant id 'a'"),
    ]:
        with pytest.raises(ConfigError) as error:
            parse_config(base + plants)
        assert message in str(error.value)


def test_a_plant_with_an_active_standby_pair_is_read_from_the_one_that_answers(
    tmp_path: Path, leeds: RealServer,
) -> None:
    pair = f"http://127.0.0.1:{free_port()}, {leeds.url}"
    plants = f"    - {{{{id: leeds, url: '{pair}', token: {TOKEN}}}}}\n"
    with api(tmp_path, ManualClock(utc("2026-11-26 07:00")), text=HERE + plants) as client:
        view = client.get("/api/enterprise").json()
    leeds_view = view["plants"][1]
    assert (leeds_view["id"], leeds_view["url"], leeds_view["reachable"], leeds_view["error"]) == (
        "leeds", pair, True, None)
    assert [(x["line"], x["actual_to_date"]) for x in leeds_view["lines"]] == [("l1", 50), ("l2", 130)]
    three = "    - {id: x, url: 'http://a:1,http://b:2,http://c:3'}\n"
    with pytest.raises(ConfigError):
        parse_config(HERE.format(db=tmp_path / "b.db").replace("{{", "{").replace("}}", "}") + three)
