"""Request and response models of the loss model: stops, reasons, OEE and the loss waterfall."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from andon.api.schemas import BoardOut, BoardRowOut, Strict

Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_]*$")]
Instant = Annotated[str | float, Field(description="ISO 8601 with offset, or epoch seconds.")]


class StopOut(BaseModel):
    """A stop: found from counts or a run signal, or planned ahead."""

    id: int
    line: str
    start: str
    end: str | None = Field(description="Null while the stop is open.")
    open: bool
    seconds: float = Field(description="Available seconds in the stop (breaks taken out), up to now while open.")
    small: bool = Field(description="Shorter than losses.small_stop_seconds: a performance loss, no reason asked.")
    reason: str | None = Field(description="Reason code; null: unexplained.")
    reason_name: str | None
    category: str | None
    planned: bool
    origin: Literal["detected", "planned"]
    reason_by: str | None = Field(description="Who gave the reason: a token or person, plc:<source>, andon:<id>.")
    reason_at: str | None
    note: str
    needs_reason: bool = Field(description="Unexplained, not small, older than losses.reason_after_seconds.")


class StopReasonIn(Strict):
    """The reason of a stop."""

    reason: Code | None = Field(description="Reason code from the line's reason tree; null: unexplained again.")
    note: str | None = Field(None, max_length=2000)
    by: str | None = Field(None, max_length=128, description="Person id or badge (default: the token's name).")


class SplitIn(Strict):
    """Where to split a stop."""

    at: Instant


class PlannedStopIn(Strict):
    """A planned stop entered ahead (a meeting, planned maintenance)."""

    start: Instant
    end: Instant
    reason: Code = Field(description="A planned reason code (planned: true in the reason tree).")
    note: str = Field("", max_length=2000)


class StopReasonOut(BaseModel):
    """One reason of a line's tree."""

    code: str
    name: str
    category: str
    planned: bool


class OeeOut(BaseModel):
    """OEE figures of a span, each in [0, 1]; null without planned production time."""

    availability: float | None
    performance: float | None
    quality: float | None
    oee: float | None
    marks: list[str] = Field(description="ideal_cycle_too_slow: the line ran faster than its ideal cycle.")


class WaterfallOut(BaseModel):
    """The loss waterfall of a span in seconds: unplanned + small + slow + scrap = planned production - ideal x good."""

    planned_production_seconds: float
    run_seconds: float
    planned_stops: float
    unplanned: dict[str, float] = Field(description="Unplanned stops by category (unexplained: no reason yet).")
    unplanned_total: float
    small_stops: float
    slow_cycles: float | None
    scrap: float | None = Field(description="ideal_cycle x scrap parts.")
    ideal_cycle_excess: float | None = Field(description="By how much the ideal cycle is too slow (0 normally).")
    good_seconds: float | None = Field(description="ideal_cycle x good parts: the fully productive time.")


class LossFiguresOut(BaseModel):
    """OEE and waterfall of a span."""

    oee: OeeOut
    losses: WaterfallOut
    good: int
    scrap: int


class ParetoItemOut(BaseModel):
    """One bar of the loss Pareto."""

    reason: str | None = None
    name: str | None = None
    category: str
    planned: bool
    seconds: float
    minutes: float
    occurrences: int


class SmallStopsOut(BaseModel):
    """Small stops, apart from the Pareto's bars."""

    seconds: float
    minutes: float
    occurrences: int


class ScrapReasonOut(BaseModel):
    """Scrap parts of one reason."""

    reason: str | None
    name: str
    parts: int


class ParetoOut(BaseModel):
    """The loss Pareto of lines over whole shifts."""

    lines: list[str]
    from_: str = Field(alias="from")
    to: str
    by: str
    items: list[ParetoItemOut]
    small_stops: SmallStopsOut
    scrap: list[ScrapReasonOut]
    totals: LossFiguresOut


class OeePeriodOut(LossFiguresOut):
    """OEE and waterfall of one shift, day or week."""

    period: str


class OeeTrendOut(BaseModel):
    """OEE per shift, day or week."""

    lines: list[str]
    from_: str = Field(alias="from")
    to: str
    by: str
    periods: list[OeePeriodOut]
    generated_at: str | None


class BoardRowWithLossesOut(BoardRowOut):
    """A board row with its stops, OEE and loss waterfall (null for rows not started)."""

    stops: list[int] = Field(default_factory=list, description="Ids of the stops that overlap the row.")
    stop_minutes: float | None = Field(None, description="Minutes lost to stops (planned, unplanned, small).")
    unexplained_stop_minutes: float | None = None
    oee: OeeOut | None = None
    losses: WaterfallOut | None = None
    good: int | None = None


class BoardWithLossesOut(BoardOut):
    """The hour-by-hour board with the shift's stops, OEE and loss waterfall."""

    ideal_cycle_seconds: float | None = None
    rows: list[BoardRowWithLossesOut]  # type: ignore[assignment]
    stops: list[StopOut] = Field(default_factory=list)
    totals: LossFiguresOut | None = Field(None, description="The shift so far: the sum of its rows.")
    stop_prompt: StopOut | None = Field(None, description="The latest stop waiting for its reason.")
