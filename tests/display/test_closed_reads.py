"""The display on a plant whose reads need a token: HTTP and /ws carry it in the Authorization header."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from andon.clock import ManualClock
from andon.runtime import build_services
from display.client import LineClient, PlantClient
from display.live import WebSocketListener
from tests.api.api_fixtures import bearer, config_text
from tests.conftest import wait_until
from tests.core.engine_fixtures import utc
from tests.core.plant_fixtures import make_config
from tests.servers import RealServer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RealServer]:
    """The real API with auth.public_read false, on uvicorn, on a manual clock."""
    services = build_services(make_config(tmp_path, config_text(auth=True, public=False)),
                              ManualClock(utc("2026-11-25 07:30")))
    srv = RealServer(services, tick_seconds=0.1)
    srv.start()
    try:
        yield srv
    finally:
        srv.close()


def test_display_with_its_token_reads_and_follows_the_stream(server: RealServer) -> None:
    clock = ManualClock(utc("2026-11-25 07:30"))
    refused = LineClient(server.url, "line1", clock=clock)
    assert refused.fetch() is False
    assert str(refused.snapshot().problem) == "SERVER ERROR 401"
    refused.close()

    client = LineClient(server.url, "line1", clock=clock, token="op-secret")
    plant = PlantClient(server.url, clock=clock, token="op-secret")
    assert client.fetch() is True and plant.fetch() is True
    assert client.snapshot().state["actual_to_date"] == 0  # type: ignore[index]
    assert [s["line"] for s in plant.snapshot().states] == ["line1", "line2"]

    messages: list[Mapping[str, Any]] = []
    lock = threading.Lock()

    def keep(message: Mapping[str, Any]) -> None:
        with lock:
            messages.append(message)

    listener = WebSocketListener(server.url, keep, token=client.token)
    listener.start()
    try:
        assert listener.wait_connected(5)
        wait_until(lambda: len(messages) >= 2)
        with server.client() as http:
            posted = http.post("/api/lines/line1/counts", json={"count": 5}, headers=bearer("operator"))
            assert posted.status_code == 201

        def counted() -> bool:
            with lock:
                return any(m.get("type") == "state" and m["state"]["actual_to_date"] == 5 for m in messages)

        wait_until(counted)
    finally:
        listener.stop()
        client.close()
        plant.close()
