"""The live state of a line: one typed model, made by the engine, served by the API, pushed on the stream and
MQTT, and shown by stack lights and displays (docs/interfaces.md has its JSON)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from andon.conditions import AndonSignal, Condition


class ShiftView(BaseModel):
    """A shift instance."""

    id: str
    name: str
    date: str
    start: str
    end: str


class CurrentInterval(BaseModel):
    """The current interval of a line: the same figures as the board's current row."""

    start: str
    end: str
    planned: int = Field(description="Plan of the whole interval.")
    planned_so_far: int = Field(description="Plan of the interval up to now.")
    actual: int | None
    delta: int | None = Field(description="actual - planned_so_far.")
    condition: str = Field(description="The interval's condition, against planned_so_far.")


class SourceView(BaseModel):
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


class StopBrief(BaseModel):
    """A stop as shown on a line's state: the open one, or the one waiting for its reason."""

    id: int
    start: str
    end: str | None
    reason: str | None
    small: bool = Field(description="Shorter than losses.small_stop_seconds (so far, while open).")
    needs_reason: bool = Field(description="Unexplained, not small, and older than losses.reason_after_seconds.")


class LineState(BaseModel):
    """Live state of a line."""

    line: str
    name: str
    at: str
    condition: Condition
    reason: str
    shift: ShiftView | None
    takt_seconds: float | None
    plan_to_date: int
    actual_to_date: int
    scrap_to_date: int
    delta: int
    shift_target: int
    current_interval: CurrentInterval | None
    last_count_at: str | None
    sources: list[SourceView]
    open_andons: list[AndonBrief] = Field(default_factory=list)
    andon: AndonSignal | None = Field(
        None,
        description="The most urgent open andon call, shown on top of the condition: escalated (a waiting call "
        "that climbed a tier) > raised (waiting) > acknowledged; null without open calls.",
    )
    stop: StopBrief | None = Field(None, description="The open stop, null while the line runs.")
    stop_prompt: StopBrief | None = Field(
        None, description="The latest stop of the shift that waits for its reason (open or closed), if any.",
    )

    def visible(self) -> str:
        """Return the state as JSON without its time stamp: equal strings look the same on a board."""
        return self.model_dump_json(exclude={"at"})
