"""Draw the line board on a Surface: full redraws on change, the clock and banner each second.

The renderer keeps what it drew last, so ``draw`` returns only the dirty rectangles: the whole
screen when the view changed, else the clock when its second changed and the andon banner while
calls are open (it flashes and its ages count up). Its words are in its language (``display.words``);
every label fits its box in every language (shrunk, and cut only as a last resort).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any

import pygame

from andon import i18n
from display import layout as L
from display.layout import LineLayout, line_layout
from display.palette import (
    ANDON_SIGNAL_COLOURS,
    ANDON_SIGNAL_WORDS,
    BACKGROUND,
    GRID,
    PANEL,
    PANEL_CURRENT,
    TEXT,
    TEXT_DARK,
    TEXT_DIM,
    Colour,
    andon_colour,
    condition_colour,
    row_text_colour,
    text_on,
)
from display.text import TextCache, font_for
from display.view import AndonView, LineView, RowView, age_text, line_view
from display.words import Problem, category_word, say

CLOCK_SAMPLE = "88:88:88"
MAX_BANNER_CALLS = 3


_DIGITS = re.compile(r"\d")


def clock_text(now: float, tz: tzinfo) -> str:
    """Return the wall clock as the board shows it (local HH:MM:SS)."""
    return datetime.fromtimestamp(now, tz).strftime("%H:%M:%S")


def flash_on(now: float) -> bool:
    """Return True in the bright half of the andon flash (one second bright, one second dim)."""
    return int(now) % 2 == 0


class LineBoardRenderer:
    """Draws one line's board for one screen size, remembering what is on screen."""

    def __init__(
        self,
        size: tuple[int, int],
        tz: tzinfo,
        text: TextCache | None = None,
        language: str = i18n.DEFAULT,
        font: str | None = None,
    ) -> None:
        self.size = size
        self.tz = tz
        self.language = i18n.resolve(language)
        self.text = text if text is not None else TextCache(font_for(self.language, font))
        self.columns = tuple((key, say(self.language, f"display.column_{key}")) for key, _ in L.COLUMNS)
        self._head_size = round(size[1] * L.HEADER_FONT)
        clock_w = self.text.font(self._head_size).size(CLOCK_SAMPLE)[0] + 4
        self.layout: LineLayout = line_layout(size, clock_w)
        self._view: LineView | None = None
        self._clock: str | None = None
        self._banner_key: tuple[object, ...] | None = None

    # -- the three entry points -------------------------------------------------------------

    def draw(self, surface: pygame.Surface, view: LineView, now: float) -> list[pygame.Rect]:
        """Draw what changed since the last call and return the dirty rectangles."""
        if view != self._view:
            return self.draw_full(surface, view, now)
        rects = self.draw_clock(surface, now)
        if view.andons:
            rects += self.draw_banner(surface, now)
        return rects

    def draw_full(self, surface: pygame.Surface, view: LineView, now: float) -> list[pygame.Rect]:
        """Redraw the whole board and return the screen's rectangle."""
        lay = self.layout
        surface.fill(BACKGROUND)
        self._view = view
        self._clock = None
        self._banner_key = None
        h = lay.px(L.HEADER_FONT)
        name, size = self.text.fit(view.name, h, lay.name.width, h // 2)
        self._blit(surface, self.text.render(name, size, TEXT, BACKGROUND), lay.name, "left")
        info, size = self.text.fit(view.info, lay.px(L.INFO_FONT), lay.info.width, lay.px(0.03))
        self._blit(surface, self.text.render(info, size, TEXT_DIM, BACKGROUND), lay.info, "center")
        self._draw_figures(surface, view)
        self._draw_status(surface, view)
        table = lay.table.copy()
        if view.andons:
            table.height = lay.banner.top - lay.px(L.MARGIN) - table.top
        self._draw_table(surface, view.rows, table, view.stale)
        if view.stale:
            self._draw_stale(surface, view)
        self.draw_clock(surface, now)
        if view.andons:
            self.draw_banner(surface, now)
        return [surface.get_rect()]

    def draw_clock(self, surface: pygame.Surface, now: float) -> list[pygame.Rect]:
        """Redraw the clock if its text changed; return its rectangle (or nothing)."""
        text = clock_text(now, self.tz)
        if text == self._clock:
            return []
        self._clock = text
        rect = self.layout.clock
        surface.fill(BACKGROUND, rect)
        self._blit(surface, self.text.render(text, self._head_size, TEXT, BACKGROUND), rect, "right")
        return [rect]

    def draw_banner(self, surface: pygame.Surface, now: float) -> list[pygame.Rect]:
        """Redraw the andon banner if its flash phase or an age changed; return its rectangle."""
        view = self._view
        if view is None or not view.andons:
            return []
        bright = flash_on(now)
        calls = view.andons[:MAX_BANNER_CALLS]
        ages = tuple(age_text(now - c.raised_at) if c.raised_at else "" for c in calls)
        key = (bright, ages)
        if key == self._banner_key:
            return []
        self._banner_key = key
        self._draw_banner(surface, view.andons, ages, bright)
        return [self.layout.banner]

    # -- parts -------------------------------------------------------------------------------

    def _blit(self, surface: pygame.Surface, text: pygame.Surface, box: pygame.Rect, align: str) -> None:
        r = text.get_rect()
        r.centery = box.centery
        if align == "left":
            r.left = box.left
        elif align == "right":
            r.right = box.right
        else:
            r.centerx = box.centerx
        # A font with tall line spacing (the CJK ones) makes surfaces higher than their ink: the part outside
        # the box is background only, and would paint over the neighbours.
        shown = r.clip(box)
        surface.blit(text, shown, pygame.Rect(shown.x - r.x, shown.y - r.y, shown.width, shown.height))

    def _draw_tile(
        self,
        surface: pygame.Surface,
        box: pygame.Rect,
        label: str,
        value: str,
        fill: Colour,
        ink: Colour,
        label_size: int,
        frame: int = 0,
    ) -> None:
        lay = self.layout
        surface.fill(fill, box)
        pad = lay.px(0.01)
        label_text, size = self.text.fit(label, label_size, box.width - 2 * max(pad, frame), label_size // 2)
        label_surf = self.text.render(label_text, size, ink, fill)
        label_box = pygame.Rect(box.x, box.y + pad, box.width, self.text.line_height(size))
        # An accent above a capital (Ü, Ś) makes the surface taller than the line, upwards: the label keeps its
        # baseline and the figure its place, and the accent comes down out of an andon frame's way.
        top = label_box.bottom - label_surf.get_height()
        if frame and label_surf.get_height() > label_box.height:
            top = max(top, box.y + frame)
        drawn = pygame.Rect(box.x, top, box.width, label_surf.get_height())
        self._blit(surface, label_surf, drawn, "center")
        fig_box = pygame.Rect(box.x, label_box.bottom, box.width, box.bottom - label_box.bottom)
        fig_size = lay.px(L.FIGURE_FONT)
        value_text, size = self.text.fit(value, fig_size, box.width - 2 * pad, fig_size // 2)
        self._blit(surface, self.text.render(value_text, size, ink, fill), fig_box, "center")

    def _draw_figures(self, surface: pygame.Surface, view: LineView) -> None:
        lay = self.layout
        label = lay.px(L.LABEL_FONT)
        self._draw_tile(surface, lay.plan, say(self.language, "display.plan_to_date"), view.plan, PANEL, TEXT, label)
        self._draw_tile(surface, lay.actual, say(self.language, "display.actual_to_date"), view.actual, PANEL, TEXT,
                        label)
        fill = condition_colour(view.condition)
        ink = text_on(view.condition)
        word = view.word
        if view.andon is None or view.stale:
            self._draw_tile(surface, lay.delta, word, view.delta, fill, ink, lay.px(L.WORD_FONT))
            return
        signal = say(self.language, ANDON_SIGNAL_WORDS[view.andon])
        word = say(self.language, "display.word_with_andon", word=word, signal=signal)
        frame = lay.px(L.ANDON_FRAME)
        self._draw_tile(surface, lay.delta, word, view.delta, fill, ink, lay.px(L.WORD_FONT), frame)
        # Open calls are laid on top of the condition: a frame in the call's colour.
        pygame.draw.rect(surface, ANDON_SIGNAL_COLOURS[view.andon], lay.delta, frame)

    def _draw_status(self, surface: pygame.Surface, view: LineView) -> None:
        lay = self.layout
        box = lay.status
        size = lay.px(L.STATUS_FONT)
        right = view.problem or view.oee
        right_w = 0
        if right:
            ink = condition_colour("abnormal") if view.problem else TEXT
            right, fitted = self.text.fit(right, size, box.width // 2, size // 2)
            surf = self.text.render(right, fitted, ink, BACKGROUND)
            right_w = surf.get_width() + lay.px(0.02)
            self._blit(surface, surf, box, "right")
        # A stop waiting for its reason takes the status band's left side, in the warning colour.
        text, ink = (view.stop_prompt, condition_colour("warning")) if view.stop_prompt else (view.status, TEXT_DIM)
        status, fitted = self.text.fit(text, size, box.width - right_w, size // 2)
        if status:
            surf = self.text.render(status, fitted, ink, BACKGROUND)
            self._blit(surface, surf, box, "left")

    def _draw_table(
        self,
        surface: pygame.Surface,
        rows: tuple[RowView, ...],
        box: pygame.Rect,
        stale: bool,
    ) -> None:
        lay = self.layout
        head_h = lay.px(L.TABLE_HEADER)
        body_h = box.height - head_h
        if body_h <= 0:
            return
        # A font with taller lines for its capitals (a CJK font) needs taller rows for the same capitals.
        row_cap = min(L.ROW_CAP, L.ROW_FILL / self.text.line_ratio())
        fits = max(1, body_h // lay.px(L.TABLE_CAP / row_cap))  # L.ROW_MIN with the bundled font
        current = next((i for i, r in enumerate(rows) if r.current), None)
        window = L.visible_rows(len(rows), current, fits)
        shown = rows[window.start : window.stop]
        row_h = min(lay.px(L.ROW_MAX), body_h // max(1, len(shown)))
        head_size = self.text.size_for_cap(head_h * min(L.HEAD_CAP, L.ROW_FILL / self.text.line_ratio()))
        pad = lay.px(0.012)
        floor = self.text.size_for_cap(lay.size[1] * L.TABLE_CAP)
        size = max(floor, self.text.size_for_cap(row_h * row_cap))
        cols, size = self._columns(shown, box, head_size, size, floor, pad)
        for (key, title), col in zip(self.columns, cols, strict=True):
            cell = pygame.Rect(col.x + pad, box.y, col.width - 2 * pad, head_h)
            title, fitted = self.text.fit(title, head_size, cell.width, head_size // 2)
            surf = self.text.render(title, fitted, TEXT_DIM, BACKGROUND)
            self._blit(surface, surf, cell, "left" if key in ("hours", "reason") else "right")
        if not shown:
            empty, fitted = self.text.fit(say(self.language, "display.no_board"), size, box.width - 2 * pad, floor)
            surf = self.text.render(empty, fitted, TEXT_DIM, BACKGROUND)
            self._blit(surface, surf, pygame.Rect(box.x + pad, box.y + head_h, box.width, row_h), "left")
            return
        y = box.y + head_h
        for row in shown:
            fill = PANEL_CURRENT if row.current else PANEL
            rect = pygame.Rect(box.x, y, box.width, row_h - max(1, row_h // 12))
            surface.fill(fill, rect)
            for (key, _), col in zip(self.columns, cols, strict=True):
                colour = TEXT if row.condition != "pending" else TEXT_DIM
                if key == "delta":
                    colour = row_text_colour("stale" if stale else row.condition)
                cell = pygame.Rect(col.x + pad, rect.y, col.width - 2 * pad, rect.height)
                # Numbers have the width they need; a long reason shrinks to the readable size, then is cut.
                text, fitted = self.text.fit(str(getattr(row, key)), size, cell.width, floor)
                if not text:
                    continue
                surf = self.text.render(text, fitted, colour, fill)
                self._blit(surface, surf, cell, "left" if key in ("hours", "reason") else "right")
            y += row_h
        pygame.draw.line(surface, GRID, (box.x, box.y + head_h - 1), (box.right, box.y + head_h - 1))

    def _columns(
        self, rows: tuple[RowView, ...], box: pygame.Rect, head_size: int, size: int, floor: int, pad: int
    ) -> tuple[list[pygame.Rect], int]:
        """Return the column rectangles and the text size: numbers as wide as their text, the reason the rest."""
        while True:
            natural = []
            for key, title in self.columns:
                widths = [self.text.font(head_size).size(title)[0]]
                # Measured with every digit as 8: a figure that ticks up does not move the columns.
                widths += [self.text.font(size).size(_DIGITS.sub("8", str(getattr(r, key))))[0] for r in rows]
                natural.append(max(widths) + 2 * pad + 1)
            numbers = sum(natural[:-1])
            if size <= floor or numbers <= box.width * (1 - L.REASON_SHARE):
                return L.column_rects(box.x, box.width, natural), size
            size = max(floor, min(size - 1, int(size * box.width * (1 - L.REASON_SHARE) / numbers)))

    def _draw_stale(self, surface: pygame.Surface, view: LineView) -> None:
        lay = self.layout
        box = lay.stale
        fill = condition_colour("stale")
        surface.fill(fill, box)
        pygame.draw.rect(surface, TEXT, box, max(2, lay.px(0.006)))
        width = box.width - 2 * lay.px(0.02)
        word, size = self.text.fit(say(self.language, "display.word_stale"), lay.px(0.16), width, lay.px(0.08))
        big = self.text.render(word, size, TEXT, fill)
        lines = [view.stale_since]
        if view.problem:
            lines.append(view.problem)
        small = lay.px(0.06)
        surfs = [self.text.render(*self.text.fit(t, small, width, small // 2), TEXT, fill) for t in lines]
        total = big.get_height() + sum(s.get_height() for s in surfs)
        y = box.centery - total // 2
        for surf in [big, *surfs]:
            r = surf.get_rect(midtop=(box.centerx, y))
            surface.blit(surf, r)
            y += surf.get_height()

    def _draw_banner(
        self,
        surface: pygame.Surface,
        calls: tuple[AndonView, ...],
        ages: tuple[str, ...],
        bright: bool,
    ) -> None:
        lay = self.layout
        box = lay.banner
        surface.fill(BACKGROUND, box)
        shown = calls[:MAX_BANNER_CALLS]
        extra = len(calls) - len(shown)
        gap = lay.px(L.MARGIN)
        seg_w = (box.width - gap * (len(shown) - 1)) // len(shown)
        big, small = lay.px(0.07), lay.px(0.05)
        for i, (call, age) in enumerate(zip(shown, ages, strict=True)):
            seg = pygame.Rect(box.x + i * (seg_w + gap), box.y, seg_w, box.height)
            fill = andon_colour(call.category, bright)
            ink = TEXT_DARK if bright and call.category not in ("safety", "material") else TEXT
            surface.fill(fill, seg)
            pad = lay.px(0.01)
            inner = seg.inflate(-2 * pad, 0)
            category = category_word(call.category, self.language).upper()
            top = say(self.language, "display.banner_call", station=call.station, category=category)
            bottom = "   ".join(p for p in (age, call.tier.replace("_", " ")) if p)
            if extra and i == len(shown) - 1:
                bottom += "   " + say(self.language, "display.banner_more", count=extra)
            text, size = self.text.fit(top, big, inner.width, big // 2)
            t1 = self.text.render(text, size, ink, fill)
            text, size = self.text.fit(bottom, small, inner.width, small // 2)
            t2 = self.text.render(text, size, ink, fill)
            y = seg.centery - (t1.get_height() + t2.get_height()) // 2
            surface.blit(t1, (inner.x, y))
            surface.blit(t2, (inner.x, y + t1.get_height()))


def render_line(
    surface: pygame.Surface,
    line: str,
    state: Mapping[str, Any] | None,
    board: Mapping[str, Any] | None,
    now: float,
    *,
    tz: tzinfo,
    stale: bool = False,
    last_good: float | None = None,
    problem: Problem | str | None = None,
    renderer: LineBoardRenderer | None = None,
    show_oee: bool = False,
    language: str = i18n.DEFAULT,
) -> list[pygame.Rect]:
    """Draw a whole line board from the API's state and board dicts onto ``surface`` (in the renderer's language,
    else ``language``)."""
    renderer = renderer or LineBoardRenderer(surface.get_size(), tz, language=language)
    view = line_view(line, state, board, stale=stale, last_good=last_good, problem=problem, tz=tz,
                     show_oee=show_oee, language=renderer.language)
    return renderer.draw_full(surface, view, now)
