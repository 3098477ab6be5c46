"""The Pi display's stop prompt and OEE in the status band, rendered headless to real pixels."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import pygame

from display.palette import condition_colour
from display.render import LineBoardRenderer, render_line
from display.sample import SAMPLE_NOW, sample_board, sample_state
from display.view import line_view
from tests.display.test_render import save

SIZE = (1280, 720)
AMBER = condition_colour("warning")


def prompted() -> tuple[dict[str, Any], dict[str, Any]]:
    state = sample_state(behind=True)
    state["stop_prompt"] = {"id": 3, "start": "2026-11-25T10:05:00+00:00", "end": None, "reason": None,
                            "small": False, "needs_reason": True}
    board = sample_board()
    board["totals"] = {"oee": {"availability": 0.7, "performance": 0.8095, "quality": 0.9412, "oee": 0.5333,
                               "marks": []}}
    return state, board


def colours_in(surface: pygame.Surface, box: pygame.Rect) -> set[tuple[int, int, int]]:
    return {tuple(surface.get_at((x, y)))[:3] for x in range(box.left, box.right, 2)
            for y in range(box.top, box.bottom, 2)}


def test_the_view_words_the_prompt_and_the_oee() -> None:
    state, board = prompted()
    view = line_view("line1", state, board, stale=False, last_good=SAMPLE_NOW, problem=None, tz=UTC, show_oee=True)
    assert (view.stop_prompt, view.oee) == ("WHY DID WE STOP? since 10:05", "OEE 53%  A 70  P 81  Q 94")
    plain = line_view("line1", state, board, stale=False, last_good=SAMPLE_NOW, problem=None, tz=UTC)
    assert plain.oee == ""
    stale = line_view("line1", state, board, stale=True, last_good=SAMPLE_NOW, problem=None, tz=UTC, show_oee=True)
    assert (stale.stop_prompt, stale.oee) == ("", "")  # never a prompt or a figure from old data


def test_the_prompt_is_drawn_in_the_warning_colour_in_the_status_band() -> None:
    state, board = prompted()
    surface = pygame.Surface(SIZE)
    renderer = LineBoardRenderer(SIZE, UTC)
    render_line(surface, "line1", state, board, SAMPLE_NOW, tz=UTC, renderer=renderer, show_oee=True)
    save(surface, "stop-prompt-1280x720.png")
    band = renderer.layout.status
    left = pygame.Rect(band.left, band.top, band.width // 3, band.height)
    assert AMBER in colours_in(surface, left)
    state.pop("stop_prompt")
    calm = pygame.Surface(SIZE)
    render_line(calm, "line1", state, board, SAMPLE_NOW, tz=UTC, renderer=LineBoardRenderer(SIZE, UTC))
    assert AMBER not in colours_in(calm, left)
