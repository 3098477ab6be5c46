"""The Pi board's current row: plan so far beside the hour's plan, deltas against the plan so far, the big
delta equal to the row's cum delta, and open andon calls laid on the condition tile (headless pygame)."""

from __future__ import annotations

import copy
from datetime import UTC
from typing import Any

import pygame
import pytest

from display.palette import ANDON_SIGNAL_COLOURS, PANEL_CURRENT, condition_colour, row_text_colour
from display.render import LineBoardRenderer, render_line
from display.sample import SAMPLE_NOW, sample_board, sample_state
from display.view import line_view


def render(state: Any, board: Any, size: tuple[int, int] = (1920, 1080)) -> tuple[pygame.Surface, LineBoardRenderer]:
    surface = pygame.Surface(size)
    renderer = LineBoardRenderer(size, UTC)
    render_line(surface, "line1", state, board, SAMPLE_NOW, tz=UTC, renderer=renderer)
    return surface, renderer


def current_band(surface: pygame.Surface, renderer: LineBoardRenderer) -> range:
    """Return the screen rows of the current row's panel (the only one in PANEL_CURRENT)."""
    table = renderer.layout.table
    x = table.x + 2
    ys = [y for y in range(table.y, table.bottom) if tuple(surface.get_at((x, y)))[:3] == PANEL_CURRENT]
    assert ys, "no current row drawn"
    assert ys == list(range(ys[0], ys[-1] + 1))  # one band
    return range(ys[0], ys[-1] + 1)


def colours_in(surface: pygame.Surface, band: range, x0: int, x1: int) -> set[tuple[int, int, int]]:
    return {tuple(surface.get_at((x, y)))[:3] for y in band for x in range(x0, x1)}  # type: ignore[misc]


@pytest.mark.parametrize(
    ("behind", "planned", "delta", "cum_delta", "condition"),
    # 09:30 in the 09:00-10:00 row: 30 planned so far of 60. Behind: 26 made (-4), 196 to date against 210.
    # Ahead: 35 made (+5), 230 against 210.
    [(True, "30/60", "-4", "-14", "abnormal"), (False, "30/60", "+5", "+20", "normal")],
    ids=["behind", "ahead"],
)
def test_current_row_reads_against_its_plan_so_far(
    behind: bool, planned: str, delta: str, cum_delta: str, condition: str
) -> None:
    state, board = sample_state(behind=behind), sample_board(behind=behind)
    view = line_view("line1", state, board, stale=False, last_good=SAMPLE_NOW, problem=None, tz=UTC)
    row = next(r for r in view.rows if r.current)
    assert (row.hours, row.planned, row.delta, row.cum_delta, row.condition) == (
        "09:00-10:00", planned, delta, cum_delta, condition)
    assert view.delta == row.cum_delta  # the big figure is the current row's cum delta
    assert [r.planned for r in view.rows if not r.current][:3] == ["60", "60", "60"]  # finished rows: the plan

    surface, renderer = render(state, board)
    band = current_band(surface, renderer)
    table = renderer.layout.table
    # The row's delta is drawn in its condition's colour on the current-row panel.
    assert row_text_colour(condition) in colours_in(surface, band, table.x, table.right)
    # The so-far figure is on screen in that row, and only there: change it and only this band changes.
    other = copy.deepcopy(board)
    other["rows"][3]["planned_so_far"] = 31
    changed, _ = render(state, other)
    diff = {y for y in range(table.y, table.bottom) for x in range(table.x, table.right, 2)
            if surface.get_at((x, y)) != changed.get_at((x, y))}
    assert diff and diff <= set(band)


@pytest.mark.parametrize(
    ("andons", "signal", "frame"),
    [(0, None, None), (1, "raised", ANDON_SIGNAL_COLOURS["raised"]), (2, "escalated", (220, 20, 20))],
)
def test_open_andon_calls_frame_the_condition_tile(andons: int, signal: str | None, frame: Any) -> None:
    state = sample_state(behind=False, condition="normal", andons=andons)
    assert state["andon"] == signal
    view = line_view("line1", state, sample_board(behind=False), stale=False, last_good=1, problem=None, tz=UTC)
    assert view.andon == signal
    surface, renderer = render(state, sample_board(behind=False))
    box = renderer.layout.delta
    edge = tuple(surface.get_at((box.x + 1, box.y + 1)))[:3]
    inside = tuple(surface.get_at((box.x + box.width // 20, box.centery)))[:3]
    assert edge == (condition_colour("normal") if frame is None else frame)
    assert inside == condition_colour("normal")  # the condition keeps its colour; the call lies on top
