"""An edge's source health reaches the server: a PLC that stops answering at the line makes the line stale
on the server with the reason in words, and a silent edge makes it stale too (heartbeats stop)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx

from andon.counting import CREDITED_AFTER_OUTAGE
from tests.conftest import wait_until
from tests.edge.conftest import AndonProcess, EdgeRunner, Plc, plc_source, write_config


def test_edge_reports_plc_outage_and_its_own_silence(
    tmp_path: Path, plc: Plc, andon_server: Callable[..., AndonProcess], edges: Callable[..., EdgeRunner]
) -> None:
    config = write_config(tmp_path, plc_source(plc.port, stale_after_seconds=1.5))
    server = andon_server(config)
    edge = edges(config, server.url, tmp_path / "edge.db", status_seconds=0.2)

    def line() -> tuple[str, str, bool]:
        state = server.state()
        return state["condition"], state["reason"], state["sources"][0]["online"]

    wait_until(lambda: line()[0] != "stale" and line()[2] is True, timeout=15)
    plc.stop()
    wait_until(lambda: line()[0] == "stale", timeout=15)
    condition, reason, online = line()
    assert (condition, online) == ("stale", False)
    assert reason.startswith(f"PLC 127.0.0.1:{plc.port} unreachable")

    plc.start()
    wait_until(lambda: line()[0] != "stale" and line()[2] is True, timeout=15)
    # The counter stands still, so only the edge's heartbeats (every 0.2 s) move the server's last_seen.
    def last_seen() -> datetime:
        return datetime.fromisoformat(server.state()["sources"][0]["last_seen"])

    heard = last_seen()
    wait_until(lambda: last_seen() > heard, timeout=5)

    edge.stop()  # the edge falls silent: no heartbeats, no counts
    wait_until(lambda: line()[0] == "stale", timeout=15)
    assert line() == ("stale", "no data from plc", True)


def test_source_health_endpoint_checks_its_input(
    tmp_path: Path, plc: Plc, andon_server: Callable[..., AndonProcess]
) -> None:
    server = andon_server(write_config(tmp_path, plc_source(plc.port)))
    put = lambda url, body: httpx.put(server.url + url, json=body, timeout=5)  # noqa: E731
    ok = put("/api/lines/line1/sources/plc", {"online": False, "detail": "PLC 10.0.0.5 unreachable"})
    assert ok.status_code == 200
    assert (ok.json()["online"], ok.json()["stale"], ok.json()["detail"], ok.json()["status"]) == (
        False, True, "PLC 10.0.0.5 unreachable", "offline")
    assert server.state()["reason"] == "PLC 10.0.0.5 unreachable"
    (shown,) = [s for s in server.state()["sources"] if s["id"] == "plc"]
    assert shown == ok.json()  # the answer is the source as the line's state shows it
    assert (
        put("/api/lines/line1/sources/nope", {"online": True}).json()["detail"] == "line 'line1' has no source 'nope'"
    )
    assert put("/api/lines/nope/sources/plc", {"online": True}).status_code == 404
    assert put("/api/lines/line1/sources/plc", {"online": "maybe"}).status_code == 422
    assert put("/api/lines/line1/sources/plc", {"online": True, "x": 1}).status_code == 422


def test_parts_credited_after_an_edge_outage_are_marked_on_the_server_board(
    tmp_path: Path, plc: Plc, andon_server: Callable[..., AndonProcess], edges: Callable[..., EdgeRunner]
) -> None:
    config = write_config(tmp_path, plc_source(plc.port))
    server = andon_server(config)
    queue = tmp_path / "edge.db"
    first = edges(config, server.url, queue)
    wait_until(lambda: first.counter_value() == 0)
    plc.set_counter(4)
    wait_until(lambda: server.parts() == 4)
    first.stop()
    plc.set_counter(16)  # 12 parts made while the edge was down
    edges(config, server.url, queue)
    wait_until(lambda: server.parts() == 16)
    wait_until(lambda: len(server.events()) == 2)
    assert [(count, flags & CREDITED_AFTER_OUTAGE) for _, count, flags, _ in server.events()] == [
        (4, 0),
        (12, CREDITED_AFTER_OUTAGE),
    ]
    board = httpx.get(server.url + "/api/lines/line1/board", timeout=5).json()
    current = next(row for row in board["rows"] if row["current"])
    assert "credited_after_outage" in current["trust"]
