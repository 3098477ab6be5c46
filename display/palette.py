"""Colours and words for line conditions: colour is never the only signal, a word goes with it."""

from __future__ import annotations

from andon import i18n
from display.words import say

Colour = tuple[int, int, int]

BACKGROUND: Colour = (12, 12, 16)
PANEL: Colour = (32, 32, 40)
PANEL_CURRENT: Colour = (48, 48, 70)
TEXT: Colour = (240, 240, 240)
TEXT_DIM: Colour = (150, 150, 160)
TEXT_DARK: Colour = (10, 10, 10)
GRID: Colour = (60, 60, 70)

CONDITION_COLOURS: dict[str, Colour] = {
    "normal": (0, 150, 60),
    "warning": (245, 170, 0),
    "abnormal": (210, 25, 25),
    "off": (90, 90, 96),
    "stale": (120, 70, 160),
    "pending": (70, 70, 78),
}

# Amber is too light for white text; everything else reads best in white.
_TEXT_ON: dict[str, Colour] = {"warning": TEXT_DARK}

# Table cells show the delta as coloured text on a dark panel; pure red is hard to read there.
ROW_TEXT_COLOURS: dict[str, Colour] = {
    "normal": (60, 210, 110),
    "warning": (255, 190, 40),
    "abnormal": (255, 80, 80),
    "off": TEXT_DIM,
    "stale": (180, 140, 220),
    "pending": TEXT_DIM,
}

# Andon banner: safety is red, material blue (as on the stack light), the rest amber.
ANDON_COLOURS: dict[str, Colour] = {
    "safety": (220, 20, 20),
    "material": (20, 90, 220),
}
ANDON_DEFAULT: Colour = (245, 150, 0)
ANDON_DIM_FACTOR = 0.35


# The frame an open andon call lays on the condition tile, and its word (as on the stack light:
# escalated red, waiting amber).
ANDON_SIGNAL_COLOURS: dict[str, Colour] = {
    "escalated": (220, 20, 20),
    "raised": ANDON_DEFAULT,
    "acknowledged": (255, 243, 196),
}
ANDON_SIGNAL_WORDS: dict[str, str] = {
    "escalated": "display.signal_escalated",
    "raised": "display.signal_raised",
    "acknowledged": "display.signal_acknowledged",
}  # catalog keys: ESCALATED, ANDON, ANDON ACK


def condition_colour(condition: str) -> Colour:
    """Return the fill colour for a line condition (unknown conditions look stale, never green)."""
    return CONDITION_COLOURS.get(condition, CONDITION_COLOURS["stale"])


def text_on(condition: str) -> Colour:
    """Return the text colour that reads on a condition's fill."""
    return _TEXT_ON.get(condition, TEXT)


def row_text_colour(condition: str) -> Colour:
    """Return the colour of a table row's delta text for the row's condition."""
    return ROW_TEXT_COLOURS.get(condition, TEXT_DIM)


def andon_colour(category: str, bright: bool) -> Colour:
    """Return the banner colour of an andon category, bright or dimmed (the flash's two phases)."""
    base = ANDON_COLOURS.get(category, ANDON_DEFAULT)
    if bright:
        return base
    r, g, b = base
    return (int(r * ANDON_DIM_FACTOR), int(g * ANDON_DIM_FACTOR), int(b * ANDON_DIM_FACTOR))


def condition_word(condition: str, delta: int | None, reason: str | None, language: str = i18n.DEFAULT) -> str:
    """Return the word that says what the colour says: AHEAD, ON PLAN, BEHIND, STOPPED, ... (in ``language``)."""
    why = (reason or "").lower()
    if condition == "stale":
        return say(language, "display.word_stale")
    if condition == "off":
        return say(language, "display.word_break" if "break" in why else "display.word_off_shift")
    if condition == "abnormal" and "stop" in why:
        return say(language, "display.word_stopped")
    if condition in ("abnormal", "warning"):
        return say(language, "display.word_behind")
    if condition == "normal":
        return say(language, "display.word_ahead" if delta is not None and delta > 0 else "display.word_on_plan")
    return condition.upper() or say(language, "display.word_unknown")
