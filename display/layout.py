"""Where things go on the line board, in proportion to the screen (1280x720 up to 3840x2160)."""

from __future__ import annotations

from dataclasses import dataclass

import pygame

# Fractions of the screen height. The main figures' font is sized so that a digit's ink is
# 15 % of the screen height, above the 1/8 that reads from 10 m.
MARGIN = 0.012
HEADER = 0.085
FIGURES = 0.31
STATUS = 0.045
BANNER = 0.13
TABLE_HEADER = 0.045
FIGURE_FONT = 0.30
LABEL_FONT = 0.05
WORD_FONT = 0.068
HEADER_FONT = 0.10
INFO_FONT = 0.055
STATUS_FONT = 0.05
ANDON_FRAME = 0.012  # the frame an open andon call draws round the delta tile

# The hour-by-hour table's text reads at 5 m: capitals of at least 16 minutes of arc (ISO 9241-3's
# minimum character height) are 23.3 mm at 5 m, 3.4 % of a 55-inch screen's height. Rows share the
# height the table has (up to ROW_MAX each); when even ROW_MIN rows do not all fit, the current
# hour stays near the bottom with the next under it.
TABLE_CAP = 0.035
ROW_CAP = 0.6  # capital height as a fraction of the row's height
ROW_MIN = TABLE_CAP / ROW_CAP
ROW_MAX = 0.11
HEAD_CAP = 0.6  # the column titles' capitals, as a fraction of the title row's height
ROW_FILL = 0.9  # a line of the font's text fits this share of a row (or title row): fonts with tall lines get less cap
REASON_SHARE = 0.3  # the reason keeps this share of the width while the other columns' text may shrink

# Table columns, left to right; the numbers take the width their text needs, the reason the rest.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("hours", "HOUR"),
    ("planned", "PLAN"),
    ("actual", "ACTUAL"),
    ("delta", "+/-"),
    ("cum_delta", "CUM +/-"),
    ("scrap", "SCRAP"),
    ("reason", "REASON"),
)


def visible_rows(count: int, current: int | None, fits: int) -> range:
    """Return which of ``count`` rows show when ``fits`` do: the current near the bottom, the next under it."""
    if count <= fits:
        return range(count)
    at = count - 1 if current is None else current
    start = max(0, min(at - (fits - 2), count - fits))
    return range(start, start + fits)


def column_rects(x: int, width: int, natural: list[int]) -> list[pygame.Rect]:
    """Give every column but the last its natural width; the last (the reason) takes the rest."""
    rects: list[pygame.Rect] = []
    for need in natural[:-1]:
        rects.append(pygame.Rect(x, 0, need, 0))
        x += need
    rects.append(pygame.Rect(x, 0, max(0, width - sum(natural[:-1])), 0))
    return rects


@dataclass(frozen=True)
class LineLayout:
    """The rectangles of the line board for one screen size."""

    size: tuple[int, int]
    name: pygame.Rect
    info: pygame.Rect
    clock: pygame.Rect
    plan: pygame.Rect
    actual: pygame.Rect
    delta: pygame.Rect
    status: pygame.Rect
    table: pygame.Rect
    banner: pygame.Rect
    stale: pygame.Rect

    def px(self, fraction: float) -> int:
        """Return a fraction of the screen height in pixels (at least 1)."""
        return max(1, round(self.size[1] * fraction))


def line_layout(size: tuple[int, int], clock_width: int) -> LineLayout:
    """Lay the line board out for ``size``; ``clock_width`` fits the widest clock text."""
    w, h = size
    m = round(h * MARGIN)
    y = m
    head_h = round(h * HEADER)
    clock = pygame.Rect(w - m - clock_width, y, clock_width, head_h)
    name_w = round((w - 2 * m) * 0.42)
    name = pygame.Rect(m, y, name_w, head_h)
    info = pygame.Rect(name.right + m, y, clock.left - name.right - 2 * m, head_h)
    y += head_h + m
    fig_h = round(h * FIGURES)
    tile_w = (w - 4 * m) // 3
    plan = pygame.Rect(m, y, tile_w, fig_h)
    actual = pygame.Rect(plan.right + m, y, tile_w, fig_h)
    delta = pygame.Rect(actual.right + m, y, w - m - actual.right - m, fig_h)
    stale = pygame.Rect(round(w * 0.12), y + round(fig_h * 0.08), round(w * 0.76), round(fig_h * 0.84))
    y += fig_h + m
    status = pygame.Rect(m, y, w - 2 * m, round(h * STATUS))
    y += status.height + m
    banner_h = round(h * BANNER)
    banner = pygame.Rect(m, h - m - banner_h, w - 2 * m, banner_h)
    table = pygame.Rect(m, y, w - 2 * m, h - m - y)
    return LineLayout(
        size=size,
        name=name,
        info=info,
        clock=clock,
        plan=plan,
        actual=actual,
        delta=delta,
        status=status,
        table=table,
        banner=banner,
        stale=stale,
    )
