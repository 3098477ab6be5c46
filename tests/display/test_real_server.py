"""The display's client and renderer against the real andon API (uvicorn, SQLite, a manual clock)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

import httpx
import pygame
import pytest

from andon.clock import ManualClock
from andon.services import services_for
from display.client import UNREACHABLE, LineClient
from display.palette import condition_colour
from display.render import LineBoardRenderer
from display.view import line_view
from tests.core.engine_fixtures import utc
from tests.core.plant_fixtures import make_config, make_plant
from tests.servers import RealServer

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "display"


@pytest.fixture
def clock() -> ManualClock:
    """07:30 UTC on a shift day of the core's test plant."""
    return ManualClock(utc("2026-11-25 07:30"))


@pytest.fixture
def server(tmp_path: Path, clock: ManualClock) -> Iterator[RealServer]:
    """Run the real API on a SQLite database for one test."""
    config = make_config(tmp_path)
    plant = make_plant(config, clock)
    srv = RealServer(services_for(plant))
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        plant.close()


def delta_pixel(client: LineClient, size: tuple[int, int], now: float, name: str) -> tuple[int, int, int]:
    """Render the client's data at ``size`` and return the delta tile's colour."""
    snap = client.snapshot()
    renderer = LineBoardRenderer(size, UTC)
    view = line_view(
        "line1", snap.state, snap.board, stale=client.stale, last_good=snap.last_good, problem=snap.problem, tz=UTC
    )
    surface = pygame.Surface(size)
    renderer.draw_full(surface, view, now)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pygame.image.save(surface, str(ARTIFACTS / f"{name}_{size[0]}x{size[1]}.png"))
    c = surface.get_at((renderer.layout.delta.x + 3, renderer.layout.delta.y + 3))
    return (c.r, c.g, c.b)


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_board_from_the_real_api_behind_ahead_stale_and_back(
    server: RealServer, clock: ManualClock, size: tuple[int, int]
) -> None:
    client = LineClient(server.url, "line1", clock=clock, stale_after=5, timeout=1)
    try:
        assert client.fetch()
        state = client.snapshot().state or {}
        assert (state["condition"], state["delta"]) == ("abnormal", -90)  # 07:30, nothing made yet
        assert delta_pixel(client, size, clock.now(), "real_behind") == condition_colour("abnormal")
        r = httpx.post(f"{server.url}/api/lines/line1/counts", json={"count": 95, "ts": "2026-11-25T07:30:00Z"})
        assert r.status_code == 201
        assert client.fetch()
        state = client.snapshot().state or {}
        assert (state["condition"], state["delta"]) == ("normal", 5)
        assert delta_pixel(client, size, clock.now(), "real_ahead") == condition_colour("normal")
        server.stop()
        clock.advance(6)
        assert client.fetch() is False
        assert (client.snapshot().problem, client.stale) == (UNREACHABLE, True)
        assert delta_pixel(client, size, clock.now(), "real_stale") == condition_colour("stale")
        server.start()
        assert client.fetch() is True and client.stale is False
        assert delta_pixel(client, size, clock.now(), "real_back") == condition_colour("normal")
    finally:
        client.close()
