"""The display following the real server's /ws: an andon raised over the API shows on the board at once.

The server is the real wiring (``build_services`` + ``create_app`` under uvicorn, SQLite, a manual
clock); the display side is what ``andon display`` runs: a LineClient, its Poller (here polling only
once a minute, so only a push can bring the banner in time), the WebSocketListener and the Board.
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
from display.live import WebSocketListener, websocket_url
from display.palette import andon_colour
from tests.conftest import wait_until
from tests.core.engine_fixtures import utc
from tests.core.plant_fixtures import make_config
from tests.servers import RealServer

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "display"
STALE_AFTER = 5.0
BANNER_DEADLINE = 1.0
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
        srv.stop()
        services.plant.close()
        services.store.engine.dispose()


class FollowingDisplay:
    """The display's client, poller and WebSocket listener on the server, drawing on an off-screen surface."""

    def __init__(self, url: str, clock: ManualClock, size: tuple[int, int]) -> None:
        self.clock = clock
        self.client = LineClient(url, "line1", clock=clock, stale_after=STALE_AFTER, timeout=2)
        self.poller = Poller(self.client.fetch, interval=60.0, wanted=self.client.fetch_wanted)
        self.listener = WebSocketListener(websocket_url(url), self.client.apply_message)
        self.board = Board("line", "line1", size, UTC)
        self.surface = pygame.Surface(size)

    def start(self) -> None:
        """Fetch once, follow /ws, and draw the first frame."""
        self.poller.start()
        self.listener.start()
        assert self.listener.connected.wait(5), "display did not connect to /ws"
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

    def wait_for_banner(self, shown: bool, timeout: float) -> float:
        """Draw on each change until the banner is (or is no longer) material; return the seconds it took."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            self.draw()
            if (self.banner_pixels() == [MATERIAL, MATERIAL]) == shown:
                return time.monotonic() - started
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
def test_andon_banner_follows_the_real_stream_within_a_second(
    server: RealServer, clock: ManualClock, size: tuple[int, int]
) -> None:
    """POST /api/andons: banner in material blue within 1 s; resolved: gone within 1 s."""
    display = FollowingDisplay(server.url, clock, size)
    try:
        display.start()
        assert display.client.snapshot().state["open_andons"] == []  # type: ignore[index]
        assert MATERIAL not in display.banner_pixels()
        display.save("stream_before_andon")
        with httpx.Client(base_url=server.url, timeout=5) as api:
            started = time.monotonic()
            reply = api.post("/api/andons", json={"line": "line1", "station": "st3", "category": "material"})
            display.wait_for_banner(shown=True, timeout=5)
            elapsed = time.monotonic() - started
            assert reply.status_code == 201
            assert elapsed < BANNER_DEADLINE, f"banner took {elapsed:.3f} s"
            state = display.client.snapshot().state or {}
            assert [(c["id"], c["station"], c["category"], c["state"]) for c in state["open_andons"]] == [
                (reply.json()["id"], "st3", "material", "raised")
            ]
            display.save("stream_andon")
            started = time.monotonic()
            assert api.post(f"/api/andons/{reply.json()['id']}/resolve", json={}).status_code == 200
            display.wait_for_banner(shown=False, timeout=5)
            cleared = time.monotonic() - started
            assert cleared < BANNER_DEADLINE, f"banner took {cleared:.3f} s to clear"
            display.save("stream_resolved")
        print(f"\n{size[0]}x{size[1]}: banner shown {elapsed * 1000:.0f} ms after POST, "
              f"cleared {cleared * 1000:.0f} ms after resolve")
    finally:
        display.stop()
