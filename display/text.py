"""Fonts and a small LRU cache of rendered text, so an unchanged board costs blits, not renders."""

from __future__ import annotations

import math
from collections import OrderedDict

import pygame

from display.palette import Colour

ELLIPSIS = "..."


class TextCache:
    """Render text once per (text, size, colour, background) and keep the newest surfaces."""

    def __init__(self, font_path: str | None = None, max_items: int = 512) -> None:
        if not pygame.font.get_init():
            pygame.font.init()
        self._font_path = font_path  # None: pygame's bundled font, present on every install
        self._fonts: dict[int, pygame.font.Font] = {}
        self._surfaces: OrderedDict[tuple[object, ...], pygame.Surface] = OrderedDict()
        self._fits: OrderedDict[tuple[object, ...], tuple[str, int]] = OrderedDict()
        self.max_items = max_items
        self._cap_ratio: float | None = None
        self._cap_sizes: dict[float, int] = {}
        self.hits = 0
        self.misses = 0

    def font(self, size: int) -> pygame.font.Font:
        """Return the font at ``size`` points (fonts are kept; a board uses a handful of sizes)."""
        size = max(4, int(size))
        found = self._fonts.get(size)
        if found is None:
            found = pygame.font.Font(self._font_path, size)
            self._fonts[size] = found
        return found

    def cap_ratio(self) -> float:
        """Return the height of a capital's ink as a fraction of the font size (measured once)."""
        if self._cap_ratio is None:
            ink = self.font(200).render("H", True, (255, 255, 255)).get_bounding_rect(min_alpha=128)
            self._cap_ratio = ink.height / 200
        return self._cap_ratio

    def size_for_cap(self, cap_px: float) -> int:
        """Return the smallest font size whose capitals are at least ``cap_px`` high."""
        key = round(cap_px, 2)
        found = self._cap_sizes.get(key)
        if found is None:
            found = max(4, math.ceil(cap_px / self.cap_ratio()))
            while self.font(found).render("H", True, (255, 255, 255)).get_bounding_rect(min_alpha=128).height < cap_px:
                found += 1
            self._cap_sizes[key] = found
        return found

    def render(self, text: str, size: int, colour: Colour, background: Colour | None = None) -> pygame.Surface:
        """Return the rendered text, from the cache when it was rendered before."""
        key = (text, int(size), colour, background)
        found = self._surfaces.get(key)
        if found is not None:
            self.hits += 1
            self._surfaces.move_to_end(key)
            return found
        self.misses += 1
        # An opaque background makes the blit a plain copy, much cheaper than alpha blending.
        surface = self.font(size).render(text, True, colour, background)
        self._surfaces[key] = surface
        if len(self._surfaces) > self.max_items:
            self._surfaces.popitem(last=False)
        return surface

    def fit(self, text: str, size: int, max_width: int, min_size: int) -> tuple[str, int]:
        """Return (text, size) that fits ``max_width``: shrink down to ``min_size``, then cut."""
        key = (text, int(size), int(max_width), int(min_size))
        found = self._fits.get(key)
        if found is not None:
            self._fits.move_to_end(key)
            return found
        result = self._fit(text, int(size), int(max_width), max(4, int(min_size)))
        self._fits[key] = result
        if len(self._fits) > self.max_items:
            self._fits.popitem(last=False)
        return result

    def _fit(self, text: str, size: int, max_width: int, min_size: int) -> tuple[str, int]:
        width = self.font(size).size(text)[0]
        if width <= max_width:
            return text, size
        shrunk = max(min_size, int(size * max_width / max(width, 1)))
        font = self.font(shrunk)
        if font.size(text)[0] <= max_width:
            return text, shrunk
        cut = text
        while cut and font.size(cut + ELLIPSIS)[0] > max_width:
            cut = cut[:-1]
        return (cut + ELLIPSIS if cut else ""), shrunk

    def __len__(self) -> int:
        """Return how many rendered surfaces are cached."""
        return len(self._surfaces)
