"""The Pi display shows what the line makes: the product and the work order's progress, in the info line."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import pygame

from display.render import LineBoardRenderer, render_line
from display.sample import SAMPLE_NOW, sample_board, sample_state
from display.view import line_view

PRODUCT = {"id": "bracket", "name": "Bracket", "since": "2026-11-28T08:00:00+00:00", "takt_seconds": 45.0,
           "ideal_cycle_seconds": 40.0}
ORDER = {"id": "WO-42", "product": "bracket", "quantity": 500, "made": 120, "remaining": 380,
         "expected_finish": "2026-11-28T13:40:00+00:00", "due": None, "state": "started"}


def with_product(**extra: Any) -> dict[str, Any]:
    """Return the sample state with a product (and whatever else is given)."""
    return {**sample_state(), "product": PRODUCT, **extra}


def test_the_info_line_names_the_product_and_the_orders_progress() -> None:
    view = line_view("line1", with_product(work_order=ORDER), sample_board(), stale=False, last_good=None,
                     problem=None, tz=UTC)
    assert view.info.endswith("   Bracket   Order WO-42 120/500 done ~13:40")
    plain = line_view("line1", sample_state(), sample_board(), stale=False, last_good=None, problem=None, tz=UTC)
    assert "Bracket" not in plain.info and "Order" not in plain.info
    assert view.info.startswith(plain.info)


def test_an_order_number_without_a_quantity_shows_alone() -> None:
    order = {**ORDER, "quantity": None, "remaining": None, "expected_finish": None}
    view = line_view("line1", with_product(work_order=order), None, stale=False, last_good=None, problem=None, tz=UTC)
    assert view.info.endswith("   Bracket   Order WO-42")


def test_the_product_changes_the_drawn_info_line() -> None:
    size = (1280, 720)
    frames = []
    for state in (sample_state(), with_product(work_order=ORDER)):
        surface = pygame.Surface(size)
        renderer = LineBoardRenderer(size, UTC)
        render_line(surface, "line1", state, sample_board(), SAMPLE_NOW, tz=UTC, renderer=renderer)
        box = renderer.layout.info
        frames.append(pygame.image.tobytes(surface.subsurface(box), "RGB"))
    assert frames[0] != frames[1]  # the info line's pixels differ; the rest of the board is the same board
