"""Config of the loss model: the stop reason tree, the ideal cycle and the loss limits of a line."""

from __future__ import annotations

from pydantic import Field

from andon.config.bases import StrictModel

REASON_CODE = r"^[a-z0-9][a-z0-9_]*$"
CHANGEOVER_OVERRUN = "changeover_overrun"
UNEXPLAINED = "unexplained"


class StopReason(StrictModel):
    """One reason a line stopped: a code picked at the line, its name, its category, planned or not."""

    code: str = Field(
        min_length=1, max_length=64, pattern=REASON_CODE,
        description="Reason code (lower case letters, digits, _), recorded on stops and scrap.",
    )
    name: str = Field(min_length=1, max_length=64, description="Name on the tablet's button and in the Pareto.")
    category: str = Field(
        min_length=1, max_length=64, pattern=REASON_CODE,
        description="Loss category: breakdown, material, quality, changeover, no_operator, planned_maintenance, "
        "meeting, other, or one of the plant's own; the tablet groups buttons by it.",
    )
    planned: bool = Field(
        False, description="A planned stop (meeting, planned maintenance) is taken out of planned production "
        "time; an unplanned one is an availability loss.",
    )


DEFAULT_STOP_REASONS: tuple[StopReason, ...] = (
    StopReason(code="breakdown", name="Breakdown", category="breakdown"),
    StopReason(code="jam", name="Jam", category="breakdown"),
    StopReason(code="tooling", name="Tooling", category="breakdown"),
    StopReason(code="no_material", name="No material", category="material"),
    StopReason(code="wrong_material", name="Wrong material", category="material"),
    StopReason(code="quality_check", name="Quality check", category="quality"),
    StopReason(code="adjustment", name="Adjustment", category="quality"),
    StopReason(code="changeover", name="Changeover", category="changeover"),
    StopReason(code=CHANGEOVER_OVERRUN, name="Changeover overrun", category="changeover"),
    StopReason(code="no_operator", name="No operator", category="no_operator"),
    StopReason(code="planned_maintenance", name="Planned maintenance", category="planned_maintenance",
               planned=True),
    StopReason(code="meeting", name="Meeting", category="meeting", planned=True),
    StopReason(code="other", name="Other", category="other"),
)


def default_stop_reasons() -> list[StopReason]:
    """Return a fresh copy of the built-in reason tree."""
    return [r.model_copy() for r in DEFAULT_STOP_REASONS]


class LossesConfig(StrictModel):
    """When a stop is small, when an unexplained stop asks for its reason, and when a reason becomes a problem.

    Defaults: a stop under 5 minutes is a small stop (a performance loss, no reason asked); a stop still
    unexplained 5 minutes after it began asks for its reason; a reason with 5 stops or 60 minutes in 7 days
    is proposed as a problem.
    """

    small_stop_seconds: float = Field(
        300.0, ge=0, le=86400,
        description="A stop shorter than this is a small stop: a performance loss, no reason asked.",
    )
    reason_after_seconds: float = Field(
        300.0, ge=0, le=86400,
        description="A stop that is not small and still unexplained this long after it began shows a prompt "
        "on the tablet, the Pi display and the web board.",
    )
    propose_after_stops: int = Field(
        5, ge=1, le=10_000,
        description="A reason code given to this many stops in 7 days is proposed as a problem.",
        json_schema_extra={"unit": "stops"},
    )
    propose_after_minutes: float = Field(
        60.0, gt=0, le=100_000,
        description="Or: a reason code with this many stop minutes in 7 days.",
        json_schema_extra={"unit": "min"},
    )
    andon_reasons: dict[str, str] = Field(
        default_factory=dict,
        description="Andon category -> reason code: an unexplained stop open while a call of that category is "
        "raised (or one that opens during it) gets that reason, e.g. {maintenance: breakdown, material: "
        "no_material}.",
    )
