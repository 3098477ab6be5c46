"""Draw the plant overview: a tile per line with its delta in the condition's colour and word."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import tzinfo
from typing import Any

import pygame

from andon import i18n
from display.palette import (
    BACKGROUND,
    TEXT,
    TEXT_DARK,
    TEXT_DIM,
    andon_colour,
    condition_colour,
    text_on,
)
from display.render import CLOCK_SAMPLE, clock_text, flash_on
from display.text import TextCache, font_for
from display.view import TileView, local_hhmm, tile_view
from display.words import Problem, problem_text, say


def grid_shape(count: int, size: tuple[int, int]) -> tuple[int, int]:
    """Return (columns, rows) that give the squarest tiles for ``count`` lines on ``size``."""
    if count <= 0:
        return 1, 1
    w, h = size
    best = (1, count)
    best_score = -1.0
    for cols in range(1, count + 1):
        rows = math.ceil(count / cols)
        tile_w, tile_h = w / cols, h / rows
        score = min(tile_w, tile_h * 1.6)  # tiles a little wider than tall read best
        if score > best_score:
            best, best_score = (cols, rows), score
    return best


class PlantRenderer:
    """Draws the plant overview for one screen size, remembering what is on screen."""

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
        w, h = size
        self.margin = max(1, round(h * 0.012))
        self.head_size = round(h * 0.09)
        head_h = round(h * 0.085)
        clock_w = self.text.font(self.head_size).size(CLOCK_SAMPLE)[0] + 4
        self.clock_rect = pygame.Rect(w - self.margin - clock_w, self.margin, clock_w, head_h)
        self.title_rect = pygame.Rect(self.margin, self.margin, w // 2, head_h)
        top = self.margin * 2 + head_h
        self.grid_rect = pygame.Rect(self.margin, top, w - 2 * self.margin, h - top - self.margin)
        self.tiles: list[pygame.Rect] = []
        self._key: tuple[object, ...] | None = None
        self._clock: str | None = None
        self._flash: bool | None = None
        self._views: tuple[TileView, ...] = ()

    def draw(
        self,
        surface: pygame.Surface,
        title: str,
        states: Sequence[Mapping[str, Any]],
        now: float,
        *,
        stale: bool = False,
        last_good: float | None = None,
        problem: Problem | str | None = None,
    ) -> list[pygame.Rect]:
        """Draw what changed (everything on new data, else clock and flashing tiles)."""
        views = tuple(tile_view(s, stale=stale, language=self.language) for s in states)
        key = (title, views, stale, last_good if stale else None, problem)
        if key != self._key:
            return self.draw_full(surface, title, states, now, stale=stale, last_good=last_good, problem=problem)
        rects = self.draw_clock(surface, now)
        if any(v.andons for v in views) and flash_on(now) != self._flash:
            rects += self._draw_tiles(surface, now, only_andons=True)
        return rects

    def draw_full(
        self,
        surface: pygame.Surface,
        title: str,
        states: Sequence[Mapping[str, Any]],
        now: float,
        *,
        stale: bool = False,
        last_good: float | None = None,
        problem: Problem | str | None = None,
    ) -> list[pygame.Rect]:
        """Redraw the whole overview and return the screen's rectangle."""
        surface.fill(BACKGROUND)
        self._views = tuple(tile_view(s, stale=stale, language=self.language) for s in states)
        self._key = (title, self._views, stale, last_good if stale else None, problem)
        self._clock = None
        heading = title
        if stale:
            heading = say(self.language, "display.plant_stale", time=local_hhmm(last_good, self.tz, seconds=True))
        if problem:
            heading = f"{heading}  {problem_text(problem, self.language)}"
        colour = condition_colour("abnormal") if (stale or problem) else TEXT
        text, size = self.text.fit(heading, self.head_size, self.title_rect.width, 8)
        if stale or problem:
            text, size = self.text.fit(heading, self.head_size, self.clock_rect.left - 2 * self.margin, 8)
        surf = self.text.render(text, size, colour, BACKGROUND)
        surface.blit(surf, surf.get_rect(midleft=self.title_rect.midleft))
        cols, rows = grid_shape(len(self._views), self.grid_rect.size)
        m = self.margin
        tile_w = (self.grid_rect.width - (cols - 1) * m) // cols
        tile_h = (self.grid_rect.height - (rows - 1) * m) // rows
        self.tiles = [
            pygame.Rect(
                self.grid_rect.x + (i % cols) * (tile_w + m),
                self.grid_rect.y + (i // cols) * (tile_h + m),
                tile_w,
                tile_h,
            )
            for i in range(len(self._views))
        ]
        if not self._views:
            empty, size = self.text.fit(say(self.language, "display.no_lines"), self.head_size, self.grid_rect.width, 8)
            surf = self.text.render(empty, size, TEXT_DIM, BACKGROUND)
            surface.blit(surf, surf.get_rect(center=self.grid_rect.center))
        self._draw_tiles(surface, now, only_andons=False)
        self.draw_clock(surface, now)
        return [surface.get_rect()]

    def draw_clock(self, surface: pygame.Surface, now: float) -> list[pygame.Rect]:
        """Redraw the clock if its text changed; return its rectangle (or nothing)."""
        text = clock_text(now, self.tz)
        if text == self._clock:
            return []
        self._clock = text
        surface.fill(BACKGROUND, self.clock_rect)
        surf = self.text.render(text, self.head_size, TEXT, BACKGROUND)
        surface.blit(surf, surf.get_rect(midright=self.clock_rect.midright))
        return [self.clock_rect]

    def _draw_tiles(self, surface: pygame.Surface, now: float, only_andons: bool) -> list[pygame.Rect]:
        bright = flash_on(now)
        self._flash = bright
        dirty: list[pygame.Rect] = []
        for view, tile in zip(self._views, self.tiles, strict=True):
            if only_andons and not view.andons:
                continue
            self._draw_tile(surface, view, tile, bright)
            dirty.append(tile)
        return dirty

    def _draw_tile(self, surface: pygame.Surface, view: TileView, tile: pygame.Rect, bright: bool) -> None:
        fill = condition_colour(view.condition)
        ink = text_on(view.condition)
        surface.fill(fill, tile)
        pad = max(2, tile.height // 20)
        inner = tile.inflate(-2 * pad, -2 * pad)
        name_size = max(8, tile.height // 7)
        word_size = max(8, tile.height // 8)
        fig_size = max(10, tile.height * 2 // 5)
        small = max(8, tile.height // 10)
        name, size = self.text.fit(view.name, name_size, inner.width, name_size // 2)
        t = self.text.render(name, size, ink, fill)
        surface.blit(t, t.get_rect(topleft=inner.topleft))
        y = inner.top + t.get_height()
        word = self.text.render(*self.text.fit(view.word, word_size, inner.width, word_size // 2), ink, fill)
        surface.blit(word, word.get_rect(topleft=(inner.left, y)))
        delta, size = self.text.fit(view.delta, fig_size, inner.width, fig_size // 2)
        d = self.text.render(delta, size, ink, fill)
        surface.blit(d, d.get_rect(center=(inner.centerx, inner.centery + tile.height // 12)))
        band = pygame.Rect(tile.x, tile.y, tile.width, max(4, tile.height // 7))
        band.bottom = tile.bottom
        bottom = band.top - pad // 2 if view.andons else inner.bottom
        figures = say(self.language, "display.tile_figures", plan=view.plan, actual=view.actual)
        text, size = self.text.fit(figures, small, inner.width, small // 2)
        f = self.text.render(text, size, ink, fill)
        surface.blit(f, f.get_rect(bottomleft=(inner.left, bottom)))
        if view.andons:
            colour = andon_colour("help", bright)
            surface.fill(colour, band)
            if view.andons > 1:
                label = say(self.language, "display.tile_andons", count=view.andons)
            else:
                label = say(self.language, "display.tile_andon")
            band_ink = TEXT_DARK if bright else TEXT
            band_size = max(8, band.height * 3 // 4)
            label, band_size = self.text.fit(label, band_size, band.width - 2 * pad, band_size // 2)
            t = self.text.render(label, band_size, band_ink, colour)
            surface.blit(t, t.get_rect(center=band.center))
