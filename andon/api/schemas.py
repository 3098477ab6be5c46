"""Request and response models of the API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """A request body that refuses unknown keys."""

    model_config = ConfigDict(extra="forbid")


class ShiftOut(BaseModel):
    """A shift instance."""

    id: str
    name: str
    date: str
    start: str
    end: str


class IntervalOut(BaseModel):
    """The current interval of a line."""

    start: str
    end: str
    planned: int
    actual: int | None
    delta: int | None


class SourceOut(BaseModel):
    """Availability of one count source."""

    id: str
    online: bool
    stale: bool
    last_seen: str | None
    detail: str


class AndonBrief(BaseModel):
    """An open andon call as shown on a line's state."""

    id: int
    station: str
    category: str
    state: str
    raised_at: str
    tier: str
    tier_index: int


class LineStateOut(BaseModel):
    """Live state of a line."""

    line: str
    name: str
    at: str
    condition: Literal["off", "normal", "warning", "abnormal", "stale"]
    reason: str
    shift: ShiftOut | None
    takt_seconds: float | None
    plan_to_date: int
    actual_to_date: int
    scrap_to_date: int
    delta: int
    shift_target: int
    current_interval: IntervalOut | None
    last_count_at: str | None
    sources: list[SourceOut]
    open_andons: list[AndonBrief]


class LineOut(BaseModel):
    """A configured line with its live state."""

    id: str
    name: str
    state: LineStateOut


class BoardRowOut(BaseModel):
    """One hour-by-hour row."""

    start: str
    end: str
    planned: int
    actual: int | None
    delta: int | None
    cum_planned: int
    cum_actual: int | None
    cum_delta: int | None
    scrap: int | None
    condition: str
    current: bool
    reason: str | None
    problem_id: int | None
    problem_status: str | None = None
    trust: list[str] = Field(default_factory=list, description="Why this row's actual is not fully trusted.")


class BoardOut(BaseModel):
    """The hour-by-hour board of one shift of one line."""

    line: str
    name: str
    date: str
    shift: str
    start: str
    end: str
    takt_seconds: float | None
    shift_target: int
    rows: list[BoardRowOut]


class CountIn(Strict):
    """Parts counted by a device that speaks HTTP."""

    count: int = Field(1, ge=0, le=1_000_000, description="Parts in this event.")
    ts: float | str | None = Field(None, description="Event time: epoch seconds or ISO 8601 with offset.")
    id: str | None = Field(None, max_length=128, description="Event id; repeats are counted once.")
    kind: Literal["good", "scrap"] = Field("good", description="Good parts or scrap.")
    manual: bool = Field(False, description="Counted by a person, not a machine (marked on the board).")
    buffered: bool = Field(False, description="Held by an edge collector while the server was away.")
    source: str | None = Field(
        None, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
        description="Configured source id this count belongs to (edge collectors); default the line's http source.",
    )


class CountOut(BaseModel):
    """What became of a posted count."""

    status: Literal["accepted", "duplicate"]
    count: int


class ErrorOut(BaseModel):
    """An error: what is wrong."""

    detail: str
