"""The display following the real server's /ws: an andon raised over the API shows on the board by a push.

The server is the real wiring (``build_services`` + ``create_app`` under uvicorn, SQLite, a manual
clock); the display side is what ``andon display`` runs: a LineClient, its Poller (here polling only
once a minute, so only a push can bring the banner within the test's wait), the WebSocketListener and
the Board. How soon the banner shows is a speed figure: ``bench/display.py`` prints it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

import httpx
import pygame
import pytest

from andon.clock import ManualClock
from andon.runtime import build_services
from display.app import Board
from display.client import LineClient, Poller
from display.live import WebSocketListener
from display.palette import andon_colour
from tests.conftest import wait_until
from tests.core.engine_fixtures import utc
from tests.core.plant_fixtures import make_config
from tests.servers import RealServer

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "display"
STALE_AFTER = 5.0
POLL_SECONDS = 60.0
PUSH_WAIT = 10.0  # well under the poll interval: a banner within it came by the stream
MATERIAL = andon_colour("material", bright=True)
# 07:30:00 UTC: an even second, so the banner is in the bright half of its flash.
NOW = utc("2026-11-25 07:30")


@pytest.fixture
def clock() -> ManualClock:
    """07:30 UTC on a shift day of the core's test plant."""
    return ManualClock(NOW)


@pytest.fixture
def server(tmp_path: Path, clock: ManualClock) -> Iterator[RealServer]:
    """The services ``andon serve`` builds, served by uvicorn on a free port for one test."""
    services = build_services(make_config(tmp_path), clock)
    srv = RealServer(services)
    srv.start()
    try:
        yield srv
    finally:
        srv.close()


class FollowingDisplay:
    """The display's client, poller and WebSocket listener on the server, drawing on an off-screen surface."""

    def __init__(self, url: str, clock: ManualClock, size: tuple[int, int]) -> None:
        self.clock = clock
        self.client = LineClient(url, "line1", clock=clock, stale_after=STALE_AFTER, timeout=2)
        self.poller = Poller(self.client.fetch, interval=POLL_SECONDS, wanted=self.client.fetch_wanted)
        self.listener = WebSocketListener(url, self.client.apply_message)
        self.board = Board("line", "line1", size, UTC)
        self.surface = pygame.Surface(size)

    def start(self) -> None:
        """Fetch once, follow /ws, and draw the first frame."""
        self.poller.start()
        self.listener.start()
        assert self.listener.wait_connected(5), "display did not connect to /ws"
        wait_until(lambda: self.client.snapshot().state is not None, timeout=5)
        self.draw()

    def draw(self) -> None:
        """Draw what changed since the last frame, as the display loop does."""
        self.board.draw(self.surface, self.client.snapshot(), self.clock.now(), STALE_AFTER)

    def banner_pixels(self) -> list[tuple[int, int, int]]:
        """Return the colours at two inner corners of the banner area."""
        renderer = self.board.line_renderer
        assert renderer is not None
        box = renderer.layout.banner
        colours = [self.surface.get_at(xy) for xy in ((box.x + 3, box.y + 3), (box.right - 4, box.bottom - 4))]
        return [(c.r, c.g, c.b) for c in colours]

    def wait_for_banner(self, shown: bool, timeout: float = PUSH_WAIT) -> None:
        """Draw on each change until the banner is (or is no longer) material."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.draw()
            if (self.banner_pixels() == [MATERIAL, MATERIAL]) == shown:
                return
            if self.client.changed.wait(0.01):
                self.client.changed.clear()
        raise AssertionError(f"banner {'not shown' if shown else 'still shown'} after {timeout} s")

    def save(self, name: str) -> None:
        """Save the current frame under artifacts/display/."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        w, h = self.surface.get_size()
        pygame.image.save(self.surface, str(ARTIFACTS / f"{name}_{w}x{h}.png"))

    def stop(self) -> None:
        """Stop listening and polling, and close the HTTP client."""
        self.listener.stop()
        self.poller.stop()
        self.client.close()


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_andon_banner_follows_the_real_stream(server: RealServer, clock: ManualClock, size: tuple[int, int]) -> None:
    """POST /api/andons: the banner turns material blue by a push; resolved: it goes."""
    display = FollowingDisplay(server.url, clock, size)
    try:
        display.start()
        assert display.client.snapshot().state["open_andons"] == []  # type: ignore[index]
        assert MATERIAL not in display.banner_pixels()
        display.save("stream_before_andon")
        with httpx.Client(base_url=server.url, timeout=5) as api:
            reply = api.post("/api/andons", json={"line": "line1", "station": "st3", "category": "material"})
            assert reply.status_code == 201
            display.wait_for_banner(shown=True)
            state = display.client.snapshot().state or {}
            assert [(c["id"], c["station"], c["category"], c["state"]) for c in state["open_andons"]] == [
                (reply.json()["id"], "st3", "material", "raised")
            ]
            display.save("stream_andon")
            assert api.post(f"/api/andons/{reply.json()['id']}/resolve", json={}).status_code == 200
            display.wait_for_banner(shown=False)
            assert (display.client.snapshot().state or {})["open_andons"] == []
            display.save("stream_resolved")
    finally:
        display.stop()
