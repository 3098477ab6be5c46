"""Stack light patterns: what each lamp and the buzzer do, and the rules from line state to pattern.

Default rules (IEC 60073 colours; docs/lights.md):

=====================  =============================================================
line condition         lamps
=====================  =============================================================
``off``                all off (no shift, or a break)
``normal``             green on
``warning``            yellow on
``abnormal``           red on (behind by ``abnormal_behind``, or the line is stopped)
``stale``              the light's fail-safe pattern (default: yellow flashing alone)
=====================  =============================================================

Open andon calls are laid on top of the condition (also off shift, so a safety call made in a
break is seen; ``calls_when_off: false`` turns that off):

=============  ===================  ====================  ===================================
category       raised (waiting)     acknowledged          escalated (tier_index > 0, raised)
=============  ===================  ====================  ===================================
any            yellow flashing      yellow on             red flashing + buzzer pulsing
material       blue flashing        blue on               (as any)
safety         red flashing +       red flashing          (as any)
               buzzer pulsing
=============  ===================  ====================  ===================================

Laying one pattern on another keeps, for each lamp, the more urgent of the two
(off < on < flash; buzzer off < pulse < on). The fail-safe default is yellow flashing with
nothing else: it asks for attention, never shows a frozen green, does not claim the line is
stopped (red) and does not sound the buzzer for an IT fault.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from andon.conditions import CONDITIONS, Condition
from andon.state import LineState

log = logging.getLogger(__name__)

Colour = Literal["red", "yellow", "green", "blue", "white"]
Lamp = Literal["off", "on", "flash"]
Buzzer = Literal["off", "on", "pulse"]
CallState = Literal["raised", "acknowledged"]

COLOURS: tuple[Colour, ...] = get_args(Colour)
OUTPUTS: tuple[str, ...] = (*COLOURS, "buzzer")

# Epoch seconds as floats resolve about 0.25 us; an edge this close counts as reached.
_EDGE_TOLERANCE = 1e-6
_LAMP_RANK = {"off": 0, "on": 1, "flash": 2}
_BUZZER_RANK = {"off": 0, "pulse": 1, "on": 2}


class LightPattern(BaseModel):
    """What a stack light shows: each colour off, on or flash; the buzzer off, on or pulse."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    red: Lamp = Field(default="off", description="Red lamp: off, on or flash.")
    yellow: Lamp = Field(default="off", description="Yellow (amber) lamp: off, on or flash.")
    green: Lamp = Field(default="off", description="Green lamp: off, on or flash.")
    blue: Lamp = Field(default="off", description="Blue lamp: off, on or flash.")
    white: Lamp = Field(default="off", description="White (clear) lamp: off, on or flash.")
    buzzer: Buzzer = Field(default="off", description="Buzzer: off, on or pulse.")

    def lamp(self, colour: Colour) -> Lamp:
        """Return what one colour does."""
        value: Lamp = getattr(self, colour)
        return value

    def over(self, other: LightPattern) -> LightPattern:
        """Lay this pattern on ``other``: each output keeps the more urgent of the two."""
        merged: dict[str, str] = {}
        for colour in COLOURS:
            mine, theirs = self.lamp(colour), other.lamp(colour)
            merged[colour] = mine if _LAMP_RANK[mine] >= _LAMP_RANK[theirs] else theirs
        mine_b, theirs_b = self.buzzer, other.buzzer
        merged["buzzer"] = mine_b if _BUZZER_RANK[mine_b] >= _BUZZER_RANK[theirs_b] else theirs_b
        return LightPattern.model_validate(merged)

    @property
    def animated(self) -> bool:
        """Say whether anything flashes or pulses."""
        return self.buzzer == "pulse" or any(self.lamp(c) == "flash" for c in COLOURS)

    def to_json(self) -> str:
        """Return the pattern as compact JSON with a fixed key order (red..white, buzzer)."""
        return self.model_dump_json()

    def describe(self) -> str:
        """Say the pattern in words, e.g. ``green on, yellow flash``."""
        parts = [f"{c} {self.lamp(c)}" for c in COLOURS if self.lamp(c) != "off"]
        if self.buzzer != "off":
            parts.append(f"buzzer {self.buzzer}")
        return ", ".join(parts) if parts else "all off"


ALL_OFF = LightPattern()
DEFAULT_FAIL_SAFE = LightPattern(yellow="flash")


def outputs_at(pattern: LightPattern, elapsed: float, flash_hz: float) -> dict[str, bool]:
    """Return each output's level ``elapsed`` seconds after the pattern started.

    Flashing lamps and a pulsing buzzer start in their on half, so a new alarm shows at once,
    and all of them share one phase.
    """
    half = 0.5 / flash_hz
    lit_half = math.floor((max(elapsed, 0.0) + _EDGE_TOLERANCE) / half) % 2 == 0
    levels: dict[str, bool] = {c: pattern.lamp(c) == "on" or (pattern.lamp(c) == "flash" and lit_half) for c in COLOURS}
    levels["buzzer"] = pattern.buzzer == "on" or (pattern.buzzer == "pulse" and lit_half)
    return levels


def next_flash_edge(elapsed: float, flash_hz: float) -> float:
    """Return the elapsed time of the next flash edge after ``elapsed``."""
    half = 0.5 / flash_hz
    return (math.floor((max(elapsed, 0.0) + _EDGE_TOLERANCE) / half) + 1) * half


class CallPatterns(BaseModel):
    """The patterns one andon category shows while raised, acknowledged and escalated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    raised: LightPattern | None = Field(default=None, description="Shown while a call waits.")
    acknowledged: LightPattern | None = Field(default=None, description="Shown once someone acknowledged the call.")
    escalated: LightPattern | None = Field(
        default=None,
        description="Laid on `raised` when the call climbed a tier (tier_index > 0).",
    )


DEFAULT_CONDITION_PATTERNS: dict[str, LightPattern] = {
    "off": ALL_OFF,
    "normal": LightPattern(green="on"),
    "warning": LightPattern(yellow="on"),
    "abnormal": LightPattern(red="on"),
}
DEFAULT_CALL_PATTERNS: dict[str, CallPatterns] = {
    "default": CallPatterns(
        raised=LightPattern(yellow="flash"),
        acknowledged=LightPattern(yellow="on"),
        escalated=LightPattern(red="flash", buzzer="pulse"),
    ),
    "material": CallPatterns(raised=LightPattern(blue="flash"), acknowledged=LightPattern(blue="on")),
    "safety": CallPatterns(raised=LightPattern(red="flash", buzzer="pulse"), acknowledged=LightPattern(red="flash")),
}


class PatternTable(BaseModel):
    """Overrides of the default rules, per line condition and per andon category."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    conditions: dict[Condition, LightPattern] = Field(
        default_factory=dict,
        description="Pattern per line condition; unlisted conditions keep the default "
        "(stale: the light's fail_safe pattern).",
    )
    calls: dict[str, CallPatterns] = Field(
        default_factory=dict,
        description="Patterns per andon category, or `default` for every category; an unset "
        "state falls back to the built-in category entry, then this table's default, then the "
        "built-in default.",
    )
    calls_when_off: bool = Field(default=True, description="Show andon calls also when the line is off shift.")


class PatternRules:
    """Turn a line condition and its open andon calls into one stack light pattern."""

    def __init__(self, table: PatternTable | None = None, fail_safe: LightPattern = DEFAULT_FAIL_SAFE) -> None:
        self.table = table or PatternTable()
        self.fail_safe = fail_safe
        self._fault: str | None = None

    def for_condition(self, condition: str) -> LightPattern:
        """Return the pattern of a line condition alone; raise ValueError for an unknown one."""
        if condition not in CONDITIONS:
            expected = ", ".join(CONDITIONS)
            raise ValueError(f"unknown line condition {condition!r}; expected one of {expected}")
        override = self.table.conditions.get(condition)
        if override is not None:
            return override
        if condition == "stale":
            return self.fail_safe
        return DEFAULT_CONDITION_PATTERNS[condition]

    def _call_entry(self, category: str, state: str) -> LightPattern | None:
        for source in (
            self.table.calls.get(category),
            DEFAULT_CALL_PATTERNS.get(category),
            self.table.calls.get("default"),
            DEFAULT_CALL_PATTERNS["default"],
        ):
            if source is not None and getattr(source, state) is not None:
                pattern: LightPattern = getattr(source, state)
                return pattern
        return None

    def for_call(self, category: str, state: str, tier_index: int = 0) -> LightPattern:
        """Return the pattern of one open andon call; raise ValueError for a state not open."""
        if state not in ("raised", "acknowledged"):
            raise ValueError(f"andon call state {state!r} is not open (expected raised or acknowledged)")
        pattern = self._call_entry(category, state) or ALL_OFF
        if state == "raised" and tier_index > 0:
            pattern = (self._call_entry(category, "escalated") or ALL_OFF).over(pattern)
        return pattern

    def pattern_for(self, condition: str, open_andons: Iterable[Mapping[str, Any]] = ()) -> LightPattern:
        """Return the pattern for a condition and its open andon calls; ValueError on bad input."""
        pattern = self.for_condition(condition)
        if condition == "off" and not self.table.calls_when_off:
            return pattern
        for call in open_andons:
            if not isinstance(call, Mapping):
                raise ValueError(f"an open andon call must be an object, not {type(call).__name__}")
            state = call.get("state")
            if state == "resolved":
                continue
            tier = call.get("tier_index") or 0
            if isinstance(tier, bool) or not isinstance(tier, int) or tier < 0:
                raise ValueError(f"andon call {call.get('id')!r} has tier_index {tier!r}, not a number >= 0")
            pattern = self.for_call(str(call.get("category", "")), str(state), tier).over(pattern)
        return pattern

    def pattern_for_state(self, state: LineState | Mapping[str, Any]) -> LightPattern:
        """Return the pattern for a line state (the engine's, or its JSON from afar); a bad one gives the fail-safe."""
        try:
            if isinstance(state, LineState):
                pattern = self.pattern_for(state.condition, [a.model_dump() for a in state.open_andons])
            else:
                andons = state.get("open_andons") or []
                if not isinstance(andons, list):
                    raise ValueError("open_andons is not a list")
                pattern = self.pattern_for(str(state.get("condition")), andons)
        except (ValueError, AttributeError) as exc:
            line = state.line if isinstance(state, LineState) else (
                state.get("line") if isinstance(state, Mapping) else "?")
            message = f"line state for {line}: {exc}"
            if self._fault != message:
                log.error("cannot choose a stack light pattern (showing fail-safe): %s", message)
            else:
                log.debug("cannot choose a stack light pattern (showing fail-safe): %s", message)
            self._fault = message
            return self.fail_safe
        if self._fault is not None:
            log.info("line state is readable again; stack light shows %s", pattern.describe())
            self._fault = None
        return pattern
