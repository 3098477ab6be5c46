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
TABLE_HEADER = 0.04
ROW_MAX = 0.065
ROW_MIN = 0.04
FIGURE_FONT = 0.30
LABEL_FONT = 0.05
WORD_FONT = 0.068
HEADER_FONT = 0.10
INFO_FONT = 0.055
STATUS_FONT = 0.05
ANDON_FRAME = 0.012  # the frame an open andon call draws round the delta tile

# Table columns as fractions of the table width; the reason takes what is left.
COLUMNS: tuple[tuple[str, str, float], ...] = (
    ("hours", "HOUR", 0.17),
    ("planned", "PLAN", 0.085),
    ("actual", "ACTUAL", 0.095),
    ("delta", "+/-", 0.08),
    ("cum_delta", "CUM +/-", 0.105),
    ("scrap", "SCRAP", 0.085),
    ("reason", "REASON", 0.0),
)


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
