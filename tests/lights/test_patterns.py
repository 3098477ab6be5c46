"""Pattern rules: (condition, open andon calls) -> the exact stack light pattern."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pydantic import ValidationError

from andon.lights import (
    DEFAULT_FAIL_SAFE,
    LightPattern,
    PatternRules,
    PatternTable,
    next_flash_edge,
    outputs_at,
)


def call(category: str, state: str = "raised", tier_index: int = 0) -> dict[str, Any]:
    """Return one open andon call as the line state carries it."""
    return {
        "id": 1,
        "station": "st3",
        "category": category,
        "state": state,
        "tier": "team_leader",
        "tier_index": tier_index,
    }


P = LightPattern

DEFAULT_TABLE = [
    ("off", [], P()),
    ("normal", [], P(green="on")),
    ("warning", [], P(yellow="on")),
    ("abnormal", [], P(red="on")),
    ("stale", [], P(yellow="flash")),
    ("normal", [call("quality")], P(green="on", yellow="flash")),
    ("normal", [call("quality", "acknowledged")], P(green="on", yellow="on")),
    ("warning", [call("quality")], P(yellow="flash")),
    ("normal", [call("quality", tier_index=1)], P(red="flash", yellow="flash", green="on", buzzer="pulse")),
    ("normal", [call("quality", "acknowledged", tier_index=1)], P(green="on", yellow="on")),
    ("abnormal", [call("maintenance", tier_index=2)], P(red="flash", yellow="flash", buzzer="pulse")),
    ("normal", [call("material")], P(green="on", blue="flash")),
    ("normal", [call("material", "acknowledged")], P(green="on", blue="on")),
    ("normal", [call("material", tier_index=1)], P(green="on", blue="flash", red="flash", buzzer="pulse")),
    ("normal", [call("safety")], P(green="on", red="flash", buzzer="pulse")),
    ("normal", [call("safety", "acknowledged")], P(green="on", red="flash")),
    ("off", [call("safety")], P(red="flash", buzzer="pulse")),
    ("normal", [call("material"), call("quality", "acknowledged")], P(green="on", blue="flash", yellow="on")),
    ("normal", [call("quality", "acknowledged"), call("help")], P(green="on", yellow="flash")),
    ("normal", [call("quality", "resolved")], P(green="on")),
    ("stale", [call("material")], P(yellow="flash", blue="flash")),
]


@pytest.mark.parametrize(("condition", "andons", "expected"), DEFAULT_TABLE)
def test_default_rules(condition: str, andons: list[dict[str, Any]], expected: P) -> None:
    """The default rules (IEC 60073) give exactly this pattern."""
    assert PatternRules().pattern_for(condition, andons) == expected


OVERRIDES = PatternTable.model_validate(
    {
        "conditions": {"warning": {"yellow": "flash"}, "off": {"white": "on"}},
        "calls": {
            "default": {"raised": {"white": "flash"}},
            "material": {"raised": {"blue": "on", "buzzer": "on"}},
            "quality": {"escalated": {"red": "on"}},
        },
        "calls_when_off": False,
    }
)

OVERRIDE_TABLE = [
    ("warning", [], P(yellow="flash")),
    ("normal", [], P(green="on")),
    ("off", [], P(white="on")),
    ("off", [call("safety")], P(white="on")),
    ("normal", [call("help")], P(green="on", white="flash")),
    ("normal", [call("help", "acknowledged")], P(green="on", yellow="on")),
    ("normal", [call("material")], P(green="on", blue="on", buzzer="on")),
    ("normal", [call("material", "acknowledged")], P(green="on", blue="on")),
    ("normal", [call("quality", tier_index=1)], P(green="on", white="flash", red="on")),
    ("normal", [call("safety")], P(green="on", red="flash", buzzer="pulse")),
    ("stale", [], P(red="on")),
]


@pytest.mark.parametrize(("condition", "andons", "expected"), OVERRIDE_TABLE)
def test_configured_table_overrides(condition: str, andons: list[dict[str, Any]], expected: P) -> None:
    """A configured table replaces only what it names; stale uses the light's fail-safe."""
    rules = PatternRules(OVERRIDES, fail_safe=P(red="on"))
    assert rules.pattern_for(condition, andons) == expected


@pytest.mark.parametrize(
    ("condition", "andons", "message"),
    [
        ("running", [], "unknown line condition 'running'"),
        ("normal", [call("quality", "closed")], "andon call state 'closed' is not open"),
        ("normal", [call("quality", tier_index=-1)], "has tier_index -1"),
        ("normal", ["quality"], "must be an object"),
    ],
)
def test_bad_input_is_a_clear_error(condition: str, andons: list[Any], message: str) -> None:
    """Strict rules name what is wrong."""
    with pytest.raises(ValueError, match=message):
        PatternRules().pattern_for(condition, andons)


def test_bad_state_logs_once_and_shows_fail_safe(caplog: pytest.LogCaptureFixture) -> None:
    """From a whole line state: a bad one gives the fail-safe, logged at ERROR once, then INFO."""
    rules = PatternRules()
    caplog.set_level(logging.DEBUG, logger="andon.lights")
    bad = {"line": "line1", "condition": "exploded", "open_andons": []}
    assert rules.pattern_for_state(bad) == DEFAULT_FAIL_SAFE
    assert rules.pattern_for_state(bad) == DEFAULT_FAIL_SAFE
    good = {"line": "line1", "condition": "normal", "open_andons": [call("material")]}
    assert rules.pattern_for_state(good) == P(green="on", blue="flash")
    levels = [r.levelname for r in caplog.records if r.name == "andon.lights"]
    assert levels == ["ERROR", "DEBUG", "INFO"]
    assert "unknown line condition 'exploded'" in caplog.records[0].getMessage()


def test_unknown_keys_are_refused() -> None:
    """The table forbids keys it does not know, and lamp values outside off/on/flash."""
    with pytest.raises(ValidationError, match="purple"):
        PatternTable.model_validate({"conditions": {"normal": {"purple": "on"}}})
    with pytest.raises(ValidationError, match="blink"):
        PatternTable.model_validate({"conditions": {"normal": {"green": "blink"}}})
    with pytest.raises(ValidationError, match="running"):
        PatternTable.model_validate({"conditions": {"running": {"green": "on"}}})


def test_pattern_json_and_words() -> None:
    """Patterns serialise with a fixed key order and describe themselves."""
    pattern = P(green="on", yellow="flash", buzzer="pulse")
    assert pattern.to_json() == (
        '{"red":"off","yellow":"flash","green":"on","blue":"off","white":"off","buzzer":"pulse"}'
    )
    assert pattern.describe() == "yellow flash, green on, buzzer pulse"
    assert P().describe() == "all off"


@pytest.mark.parametrize(
    ("elapsed", "lit", "next_edge"),
    [
        (0.0, True, 0.5),
        (0.4999999, False, 1.0),
        (0.5, False, 1.0),
        (0.99, False, 1.0),
        (1.0, True, 1.5),
        (7.25, True, 7.5),
        (7.75, False, 8.0),
    ],
)
def test_flash_phase(elapsed: float, lit: bool, next_edge: float) -> None:
    """At 1 Hz the first half second is lit; edges every 0.5 s (within 1 us)."""
    assert outputs_at(P(red="flash"), elapsed, 1.0)["red"] is lit
    assert next_flash_edge(elapsed, 1.0) == pytest.approx(next_edge)
