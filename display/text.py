"""Fonts and a small LRU cache of rendered text, so an unchanged board costs blits, not renders.

pygame's bundled font has Latin (German, Spanish, Polish) but no Chinese: for ``zh-Hans`` the display takes
a font with CJK glyphs (Debian's ``fonts-wqy-microhei`` or ``fonts-noto-cjk``), found at its usual path or
through fontconfig. A configured font (``--font``) wins in every language.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import subprocess
from collections import OrderedDict
from collections.abc import Callable, Sequence

import pygame

from display.palette import Colour

log = logging.getLogger(__name__)

ELLIPSIS = "..."

# Fonts with the Simplified Chinese glyphs, where Debian (and Raspberry Pi OS) installs them.
CJK_FONTS: tuple[str, ...] = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)
CJK_PACKAGE = "fonts-wqy-microhei"
NEEDS_CJK = ("zh-Hans",)


def fontconfig_cjk(run: Callable[[Sequence[str]], str] | None = None) -> str | None:
    """Return the file of fontconfig's best font for Simplified Chinese, if it really covers it."""
    if run is None:
        if shutil.which("fc-match") is None:
            return None
        run = _run
    try:
        found = run(["fc-match", "-f", "%{file}\t%{lang}", ":lang=zh-cn"])
    except (OSError, subprocess.SubprocessError):
        return None
    path, _, langs = found.partition("\t")
    # fc-match always answers with its nearest font; only one whose languages include zh-cn has the glyphs.
    if path and "zh-cn" in langs.split("|") and os.path.isfile(path):
        return path
    return None


def _run(command: Sequence[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True, timeout=5, check=True).stdout


def font_for(language: str, configured: str | None = None) -> str | None:
    """Return the font file the display draws ``language`` with (None: pygame's bundled font).

    A configured font wins. Chinese needs a font with its glyphs: the first of ``CJK_FONTS`` present, else
    fontconfig's; with none a warning names the package to install, and the board runs on (with boxes).
    """
    if configured:
        return configured
    if language not in NEEDS_CJK:
        return None
    for path in CJK_FONTS:
        if os.path.isfile(path):
            return path
    found = fontconfig_cjk()
    if found:
        return found
    log.warning(
        "no font with Chinese glyphs found: install Debian's %s (or fonts-noto-cjk), or give --font PATH; "
        "the board's words show as boxes until then", CJK_PACKAGE)
    return None


def _ink_ratio(font_path: str | None) -> float:
    """Return the height of a capital's ink as a fraction of the size of a font file (None: pygame's own)."""
    ink = pygame.font.Font(font_path, 200).render("H", True, (255, 255, 255)).get_bounding_rect(min_alpha=128)
    return max(ink.height, 1) / 200


class TextCache:
    """Render text once per (text, size, colour, background) and keep the newest surfaces.

    A size means the same capital height in every font: another font than pygame's bundled one is opened
    at the size whose capitals are as high as the bundled font's at the size asked for, so the board keeps
    its proportions (a CJK font's capitals are some 40 % taller at one size, its lines taller still).
    """

    def __init__(self, font_path: str | None = None, max_items: int = 512) -> None:
        if not pygame.font.get_init():
            pygame.font.init()
        self._font_path = font_path  # None: pygame's bundled font, present on every install
        self._scale = 1.0 if font_path is None else _ink_ratio(None) / _ink_ratio(font_path)
        self._fonts: dict[int, pygame.font.Font] = {}
        self._surfaces: OrderedDict[tuple[object, ...], pygame.Surface] = OrderedDict()
        self._fits: OrderedDict[tuple[object, ...], tuple[str, int]] = OrderedDict()
        self.max_items = max_items
        self._cap_ratio: float | None = None
        self._line_ratio: float | None = None
        self._cap_sizes: dict[float, int] = {}
        self.hits = 0
        self.misses = 0

    @property
    def font_path(self) -> str | None:
        """Return the font file drawn with (None: pygame's bundled font)."""
        return self._font_path

    def font(self, size: int) -> pygame.font.Font:
        """Return the font at ``size`` points (fonts are kept; a board uses a handful of sizes)."""
        size = max(4, int(size))
        found = self._fonts.get(size)
        if found is None:
            found = pygame.font.Font(self._font_path, max(4, round(size * self._scale)))
            self._fonts[size] = found
        return found

    def line_height(self, size: int) -> int:
        """Return the height of a line of text at ``size`` (an accent above a capital may add to a surface's)."""
        return self.font(size).get_height()

    def line_ratio(self) -> float:
        """Return a line's height as a multiple of a capital's (1.37 in the bundled font, more in CJK fonts)."""
        if self._line_ratio is None:
            ink = self.font(200).render("H", True, (255, 255, 255)).get_bounding_rect(min_alpha=128)
            self._line_ratio = self.line_height(200) / max(ink.height, 1)
        return self._line_ratio

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
        # Widths do not scale exactly with the size (hinting): when the estimate is a little too wide, estimate
        # again from its width (a few fonts at most, not one per size down to the smallest).
        for _ in range(3):
            width = self.font(shrunk).size(text)[0]
            if width <= max_width or shrunk <= min_size:
                break
            shrunk = max(min_size, min(shrunk - 1, int(shrunk * max_width / width)))
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
