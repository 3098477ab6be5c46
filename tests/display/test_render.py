"""Pixel checks on rendered line boards and plant overviews (headless, SDL's dummy driver)."""

from __future__ import annotations

import math
import os
from datetime import UTC
from pathlib import Path
from typing import Any

import pygame
import pytest

from display.layout import line_layout
from display.palette import PANEL, PANEL_CURRENT, andon_colour, condition_colour, condition_word
from display.plant import PlantRenderer, grid_shape
from display.render import LineBoardRenderer, render_line
from display.sample import SAMPLE_NOW, sample_board, sample_state
from display.text import TextCache
from display.view import age_text, line_view, signed

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "display"
SIZES = [(1280, 720), (1920, 1080)]
RED = condition_colour("abnormal")
GREEN = condition_colour("normal")
AMBER = condition_colour("warning")
STALE = condition_colour("stale")


@pytest.fixture(autouse=True)
def headless() -> None:
    """Check the tests run on SDL's dummy driver (set by tests/conftest.py)."""
    assert os.environ.get("SDL_VIDEODRIVER") == "dummy"


def save(surface: pygame.Surface, name: str) -> None:
    """Save a rendered frame as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pygame.image.save(surface, str(ARTIFACTS / name))


def pixel(surface: pygame.Surface, xy: tuple[int, int]) -> tuple[int, int, int]:
    """Return the RGB colour at ``xy``."""
    c = surface.get_at(xy)
    return (c.r, c.g, c.b)


def draw(size: tuple[int, int], state: Any, board: Any, **kw: Any) -> LineBoardRenderer:
    """Render a board at ``size`` and return its renderer (its surface is ``.surface``)."""
    surface = pygame.Surface(size)
    renderer = LineBoardRenderer(size, UTC)
    render_line(surface, "line1", state, board, SAMPLE_NOW, tz=UTC, renderer=renderer, **kw)
    renderer.surface = surface  # type: ignore[attr-defined]
    return renderer


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize(
    ("behind", "condition", "colour", "word"),
    [(True, "abnormal", RED, "BEHIND"), (False, "normal", GREEN, "AHEAD")],
    ids=["behind", "ahead"],
)
def test_delta_tile_is_red_behind_and_green_ahead(
    size: tuple[int, int], behind: bool, condition: str, colour: Any, word: str
) -> None:
    state = sample_state(behind=behind, condition=condition)
    r = draw(size, state, sample_board(behind=behind))
    surface = r.surface  # type: ignore[attr-defined]
    box = r.layout.delta
    for xy in [(box.x + 3, box.y + 3), (box.right - 4, box.bottom - 4), (box.x + 3, box.centery)]:
        assert pixel(surface, xy) == colour
    # The plan and actual tiles are never in a condition colour.
    assert pixel(surface, (r.layout.plan.x + 3, r.layout.plan.y + 3)) == (32, 32, 40)
    view = line_view("line1", state, sample_board(), stale=False, last_good=0, problem=None, tz=UTC)
    assert (view.word, view.delta) == (word, "-14" if behind else "+20")
    save(surface, f"line_{'behind' if behind else 'ahead'}_{size[0]}x{size[1]}.png")


@pytest.mark.parametrize("size", [*SIZES, (3840, 2160)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_main_figures_are_at_least_an_eighth_of_the_screen_high(size: tuple[int, int]) -> None:
    r = draw(size, sample_state(), sample_board())
    surface = r.surface  # type: ignore[attr-defined]
    for box in (r.layout.plan, r.layout.actual):
        # Rows of the tile's lower part holding white ink are the figure's digits.
        inked = [
            y
            for y in range(box.y + box.height // 4, box.bottom)
            if any(pixel(surface, (x, y))[0] > 200 for x in range(box.x, box.right, 2))
        ]
        assert max(inked) - min(inked) + 1 >= size[1] / 8


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_stale_overlay_hides_a_green_board(size: tuple[int, int]) -> None:
    state = sample_state(behind=False, condition="normal")
    fresh = draw(size, state, sample_board(behind=False))
    assert pixel(fresh.surface, fresh.layout.stale.center) != STALE  # type: ignore[attr-defined]
    r = draw(
        size,
        state,
        sample_board(behind=False),
        stale=True,
        last_good=SAMPLE_NOW - 12,
        problem="SERVER UNREACHABLE",
    )
    surface = r.surface  # type: ignore[attr-defined]
    box = r.layout.stale
    assert pixel(surface, (box.x + 20, box.y + 20)) == STALE
    assert pixel(surface, (r.layout.delta.right - 4, r.layout.delta.bottom - 4)) == STALE
    green = sum(
        1
        for x in range(0, size[0], 8)
        for y in range(0, size[1], 8)
        if pixel(surface, (x, y)) in (GREEN, (60, 210, 110))
    )
    assert green == 0
    view = line_view("line1", state, None, stale=True, last_good=SAMPLE_NOW - 12, problem=None, tz=UTC)
    assert (view.word, view.stale_since) == ("STALE", "no data since 09:29:48")
    save(surface, f"line_stale_{size[0]}x{size[1]}.png")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_andon_banner_flashes_while_calls_are_open(size: tuple[int, int]) -> None:
    surface = pygame.Surface(size)
    renderer = LineBoardRenderer(size, UTC)
    state = sample_state(andons=2)
    view = line_view("line1", state, sample_board(), stale=False, last_good=SAMPLE_NOW, problem=None, tz=UTC)
    banner = renderer.layout.banner
    corner = (banner.x + 3, banner.y + 3)
    assert renderer.draw(surface, view, SAMPLE_NOW) == [surface.get_rect()]  # even second
    assert pixel(surface, corner) == andon_colour("material", bright=True) == (20, 90, 220)
    save(surface, f"line_andon_{size[0]}x{size[1]}.png")
    dirty = renderer.draw(surface, view, SAMPLE_NOW + 1)
    assert dirty == [renderer.layout.clock, banner]
    assert pixel(surface, corner) == andon_colour("material", bright=False) == (7, 31, 77)
    second = (banner.right - 4, banner.y + 3)
    assert pixel(surface, second) == andon_colour("quality", bright=False)
    quiet = draw(size, sample_state(andons=0), sample_board())
    assert pixel(quiet.surface, corner) not in (  # type: ignore[attr-defined]
        andon_colour("material", True),
        andon_colour("material", False),
    )


def test_only_the_clock_is_redrawn_when_nothing_changed() -> None:
    size = (1920, 1080)
    surface = pygame.Surface(size)
    renderer = LineBoardRenderer(size, UTC)
    view = line_view("line1", sample_state(), sample_board(), stale=False, last_good=1, problem=None, tz=UTC)
    assert renderer.draw(surface, view, SAMPLE_NOW) == [surface.get_rect()]
    assert renderer.draw(surface, view, SAMPLE_NOW + 0.5) == []
    before = surface.copy()
    assert renderer.draw(surface, view, SAMPLE_NOW + 1.0) == [renderer.layout.clock]
    clock = renderer.layout.clock
    changed = [
        (x, y)
        for x in range(0, size[0], 4)
        for y in range(0, size[1], 4)
        if surface.get_at((x, y)) != before.get_at((x, y))
    ]
    assert changed and all(clock.collidepoint(p) for p in changed)
    newer = line_view(
        "line1",
        sample_state(behind=False),
        sample_board(),
        stale=False,
        last_good=1,
        problem=None,
        tz=UTC,
    )
    assert renderer.draw(surface, newer, SAMPLE_NOW + 1.2) == [surface.get_rect()]


def test_layout_is_proportional() -> None:
    small, big = line_layout((1280, 720), 300), line_layout((3840, 2160), 900)
    for name in ("plan", "actual", "delta", "banner", "table"):
        a, b = getattr(small, name), getattr(big, name)
        assert abs(b.x - 3 * a.x) <= 3 and abs(b.y - 3 * a.y) <= 3
        assert abs(b.width - 3 * a.width) <= 6 and abs(b.height - 3 * a.height) <= 6


@pytest.mark.parametrize(
    ("condition", "delta", "reason", "word"),
    [
        ("normal", 3, "", "AHEAD"),
        ("normal", 0, "", "ON PLAN"),
        ("normal", -1, "", "ON PLAN"),
        ("warning", -2, "2 behind", "BEHIND"),
        ("abnormal", -5, "5 behind", "BEHIND"),
        ("abnormal", 0, "line stopped", "STOPPED"),
        ("off", None, "no shift", "OFF SHIFT"),
        ("off", 0, "break", "BREAK"),
        ("stale", 4, "PLC 10.0.0.5 unreachable", "STALE"),
    ],
)
def test_condition_words(condition: str, delta: int | None, reason: str, word: str) -> None:
    assert condition_word(condition, delta, reason) == word


def test_bad_state_shows_dashes_not_a_crash() -> None:
    state = {"condition": "normal", "delta": "lots", "open_andons": [3, {"station": "st1"}]}
    board = {"rows": [{"start": "nope"}, 7]}
    view = line_view("line1", state, board, stale=False, last_good=1, problem=None, tz=UTC)
    assert (view.name, view.plan, view.delta, view.word) == ("line1", "--", "--", "ON PLAN")
    assert [r.hours for r in view.rows] == ["-----"]
    assert [(a.station, a.category, a.raised_at) for a in view.andons] == [("st1", "help", None)]
    surface = pygame.Surface((1280, 720))
    LineBoardRenderer((1280, 720), UTC).draw_full(surface, view, SAMPLE_NOW)


def test_text_cache_renders_once_and_evicts_the_oldest() -> None:
    cache = TextCache(max_items=2)
    a = cache.render("A", 40, (255, 255, 255), (0, 0, 0))
    assert cache.render("A", 40, (255, 255, 255), (0, 0, 0)) is a
    cache.render("B", 40, (255, 255, 255), (0, 0, 0))
    cache.render("C", 40, (255, 255, 255), (0, 0, 0))
    assert (len(cache), cache.hits, cache.misses) == (2, 1, 3)
    assert cache.render("A", 40, (255, 255, 255), (0, 0, 0)) is not a
    text, size = cache.fit("a very long reason " * 10, 40, 300, 20)
    assert size == 20 and text.endswith("...") and cache.font(size).size(text)[0] <= 300


@pytest.mark.parametrize(("value", "text"), [(5, "+5"), (0, "0"), (-3, "-3"), (None, "--"), (True, "--")])
def test_signed(value: Any, text: str) -> None:
    assert signed(value) == text


@pytest.mark.parametrize(("seconds", "text"), [(0, "0:00"), (252, "4:12"), (3725, "1h 02m")])
def test_age_text(seconds: float, text: str) -> None:
    assert age_text(seconds) == text


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_plant_overview_has_a_tile_per_line_in_its_colour(size: tuple[int, int]) -> None:
    states = [
        sample_state("line1", "Assembly 1", behind=True, andons=1),
        sample_state("line2", "Assembly 2", behind=False),
        sample_state("line3", "Paint", behind=False, condition="off"),
        sample_state("line4", "Weld 4", behind=True, condition="warning"),
    ]
    surface = pygame.Surface(size)
    renderer = PlantRenderer(size, UTC)
    assert renderer.draw(surface, "Demo Plant", states, SAMPLE_NOW) == [surface.get_rect()]
    colours = [pixel(surface, (t.x + 3, t.y + 3)) for t in renderer.tiles]
    assert colours == [RED, GREEN, condition_colour("off"), AMBER]
    andon_band = (renderer.tiles[0].x + 3, renderer.tiles[0].bottom - 3)
    assert pixel(surface, andon_band) == andon_colour("help", True)
    save(surface, f"plant_{size[0]}x{size[1]}.png")
    assert renderer.draw(surface, "Demo Plant", states, SAMPLE_NOW + 1) == [
        renderer.clock_rect,
        renderer.tiles[0],
    ]
    assert pixel(surface, andon_band) == andon_colour("help", False)
    renderer.draw(surface, "Demo Plant", states, SAMPLE_NOW + 2, stale=True, last_good=1.0)
    assert [pixel(surface, (t.x + 3, t.y + 3)) for t in renderer.tiles] == [STALE] * 4


@pytest.mark.parametrize(("count", "shape"), [(1, (1, 1)), (2, (2, 1)), (4, (2, 2)), (6, (3, 2))])
def test_grid_shape(count: int, shape: tuple[int, int]) -> None:
    assert grid_shape(count, (1920, 1000)) == shape


def cap_px_for(distance_m: float, screen_height_px: int, diagonal_in: float = 55.0) -> float:
    """Capital height in pixels that reads at ``distance_m`` on a 16:9 screen (16 minutes of arc)."""
    height_mm = diagonal_in * 25.4 * 9 / math.hypot(16, 9)
    return distance_m * 1000 * math.tan(math.radians(16 / 60)) / (height_mm / screen_height_px)


def row_bands(surface: pygame.Surface, x: int, top: int, bottom: int) -> list[tuple[int, int, bool]]:
    """Return the table rows as (top, bottom, is_current), found by their panel colour at ``x``."""
    bands: list[tuple[int, int, bool]] = []
    y = top
    while y < bottom:
        colour = pixel(surface, (x, y))
        if colour in (PANEL, PANEL_CURRENT):
            start = y
            while y < bottom and pixel(surface, (x, y)) == colour:
                y += 1
            bands.append((start, y, colour == PANEL_CURRENT))
        y += 1
    return bands


def ink_rows(surface: pygame.Surface, x0: int, x1: int, y0: int, y1: int) -> int:
    """Return the height of the bright ink (text) in a rectangle of the frame."""
    inked = [y for y in range(y0, y1) if any(max(pixel(surface, (x, y))) > 150 for x in range(x0, x1))]
    return inked[-1] - inked[0] + 1 if inked else 0


def test_the_distance_rule_in_pixels() -> None:
    # 55-inch 16:9 is 684.9 mm high; 16 minutes of arc at 5 m is 23.27 mm.
    assert (round(cap_px_for(5, 720), 1), round(cap_px_for(5, 1080), 1)) == (24.5, 36.7)


def readable_board(rows: int = 8) -> dict[str, Any]:
    """The sample board, its reasons in capitals (no descenders: the ink is the capitals' height)."""
    board = sample_board()
    reasons = ["", "HYDRAULIC PRESSURE LOW AT STATION 3 AFTER THE TOOL CHANGE", "MOTOR FAULT"]
    board["rows"] = board["rows"][:rows]
    for row, reason in zip(board["rows"], reasons, strict=False):
        row.update(reason=reason or None, problem_id=None)
    return board


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("andons", [0, 2], ids=["quiet", "andons"])
def test_table_text_reads_at_five_metres(size: tuple[int, int], andons: int, tmp_path: Path) -> None:
    w, h = size
    r = draw(size, sample_state(andons=andons), readable_board())
    name = f"line_table_{'andons' if andons else 'quiet'}_{w}x{h}.png"
    save(r.surface, name)  # type: ignore[attr-defined]
    frame = pygame.image.load(str(ARTIFACTS / name))  # measured in the PNG as written
    table = r.layout.table
    bottom = r.layout.banner.top if andons else table.bottom
    bands = row_bands(frame, table.x + 2, table.y, bottom)
    need = cap_px_for(5, h)
    # Every row shown: its hour (digits, as high as capitals) at least the 5 m height.
    hours = [ink_rows(frame, table.x, table.x + round(table.width * 0.14), top, end) for top, end, _ in bands]
    assert min(hours) >= need, (hours, need)
    # The reasons too: the short one whole, the long one at the readable size and cut, not shrunk.
    reason_x = table.x + round(table.width * 0.66)
    reasons = [ink_rows(frame, reason_x, table.right, top, end) for top, end, _ in bands[1:3]]
    assert min(reasons) >= need, (reasons, need)
    # Rows share the table's height: the current hour is shown, and the rows reach its bottom.
    assert [current for *_, current in bands].count(True) == 1
    row_h = bands[0][1] - bands[0][0]
    assert bottom - bands[-1][1] <= row_h
    assert len(bands) == (5 if andons else 7)


def test_table_rows_grow_into_the_height_they_have() -> None:
    size = (1920, 1080)
    heights = {}
    for count in (8, 4, 2):
        r = draw(size, sample_state(), readable_board(count))
        frame = r.surface  # type: ignore[attr-defined]
        table = r.layout.table
        bands = row_bands(frame, table.x + 2, table.y, table.bottom)
        assert len(bands) == min(count, 7)
        heights[count] = ink_rows(frame, table.x, table.x + round(table.width * 0.2), *bands[0][:2])
        save(frame, f"line_table_{count}_rows_1920x1080.png")
    # Eight hours at the 5 m size; four and two hours fill the table with larger text (rows up to 11 %).
    assert heights[8] >= cap_px_for(5, 1080)
    # (The current row's "30/60" widens the number columns, so the width caps the growth before the height.)
    assert heights[4] > heights[8] * 1.2
    assert heights[2] >= heights[4]
