"""The display without --language speaks the plant's (plant.language, as the real server's /api/lines says it),
and a display given two servers reads from the one that answers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

import pygame
import pytest

from andon.clock import ManualClock
from andon.runtime import build_services
from display.app import Board, run
from display.client import LineClient
from tests.api.api_fixtures import config_text
from tests.conftest import free_port
from tests.core.engine_fixtures import utc
from tests.core.plant_fixtures import make_config
from tests.servers import RealServer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RealServer]:
    """The real API of a plant whose language is German, on uvicorn, on a manual clock."""
    text = config_text().replace("plant: {{name: Test Plant,", "plant: {{language: de-DE, name: Test Plant,")
    services = build_services(make_config(tmp_path, text), ManualClock(utc("2026-11-25 07:30")))
    srv = RealServer(services, tick_seconds=0.1)
    srv.start()
    try:
        yield srv
    finally:
        srv.close()


def frame(tmp_path: Path, server: str, language: str | None = None) -> pygame.Surface:
    """One PNG of line1's board drawn by the display's snapshot path, on the plant's manual clock."""
    out = tmp_path / f"{language or 'plant'}.png"
    assert run(server, "line1", snapshot_path=str(out), size=(1280, 720), tz=UTC,
               clock=ManualClock(utc("2026-11-25 07:30")), language=language) == 0
    return pygame.image.load(str(out))


def test_without_a_language_the_display_speaks_the_plants(tmp_path: Path, server: RealServer) -> None:
    clock = ManualClock(utc("2026-11-25 07:30"))
    client = LineClient(server.url, "line1", clock=clock)
    assert client.plant_language() == "de"
    client.close()
    plant, german, english = (frame(tmp_path, server.url), frame(tmp_path, server.url, "de"),
                              frame(tmp_path, server.url, "en"))
    assert pygame.image.tobytes(english, "RGB") != pygame.image.tobytes(german, "RGB")
    assert pygame.image.tobytes(plant, "RGB") == pygame.image.tobytes(german, "RGB")


def test_a_board_told_the_plants_language_later_draws_in_it() -> None:
    board = Board("line", "line1", (1280, 720), UTC)
    assert board.language == "en" and board.line_renderer is not None
    first = board.line_renderer
    board.use_language("pl")
    assert board.language == "pl" and board.line_renderer is not first
    assert board.line_renderer.language == "pl"  # type: ignore[attr-defined]


def test_a_display_given_two_servers_reads_from_the_one_that_answers(tmp_path: Path, server: RealServer) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    clock = ManualClock(utc("2026-11-25 07:30"))
    client = LineClient(f"{dead},{server.url}", "line1", clock=clock)
    try:
        assert client.fetch() is True
        assert client.snapshot().state["line"] == "line1"  # type: ignore[index]
    finally:
        client.close()
    both = frame(tmp_path, f"{dead},{server.url}", "de")
    assert pygame.image.tobytes(both, "RGB") == pygame.image.tobytes(frame(tmp_path, server.url, "de"), "RGB")
