"""Request and response models of the production routes: products, runs, schedule, work orders."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from andon.api.schemas import NoBool, Strict

EpochOrIso = Annotated[float | Annotated[str, Field(max_length=64)], NoBool]
OrderId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:/-]+$")]
ProductId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class ProductIn(Strict):
    """Set the product a line is making."""

    product: ProductId = Field(description="One of the line's products.")
    at: EpochOrIso | None = Field(None, description="When the change happened (default now): epoch or ISO 8601.")
    work_order: OrderId | None = Field(None, description="The work order it is made for (optional).")


class ChangeoverOut(BaseModel):
    """The changeover that opened a run."""

    from_product: str | None
    target_seconds: float
    end: str | None = Field(description="When it ended: the first good part after the change (null: not yet).")
    target_end: str | None = Field(description="When its target ran out (null: it ended within it).")


class RunOut(BaseModel):
    """A run: a period in which a line makes one product."""

    id: int
    line: str
    product: str
    name: str
    start: str
    end: str | None
    work_order: str | None
    source: str = Field(description="What set it: api, work_order, or the id of a product source.")
    set_by: str
    changeover: ChangeoverOut | None


class ProductChangeOut(BaseModel):
    """What a product change did."""

    changed: bool = Field(description="False when the line was making that product (and order) already.")
    run: RunOut


class ScheduleIn(Strict):
    """Mark a period of a line scheduled or not scheduled."""

    scheduled: bool = Field(description="false: not scheduled (no crew, no orders, commissioning); true: scheduled.")
    start: EpochOrIso | None = Field(None, alias="from", description="Start (default now).")
    end: EpochOrIso | None = Field(None, alias="to", description="End (default: until further notice).")
    reason: str = Field("", max_length=500, description="Why, in words.")


class NotScheduledOut(BaseModel):
    """A period a line is not scheduled."""

    start: str | None = Field(description="Start (null: since the line was first configured).")
    end: str | None = Field(description="End (null: until further notice).")
    reason: str
    until_first_count: bool = Field(description="It ends at the line's first count or product (set at first start).")
    set_by: str


class ScheduleOut(BaseModel):
    """A line's not-scheduled periods."""

    line: str
    not_scheduled: list[NotScheduledOut]


class WorkOrderIn(Strict):
    """A new work order."""

    id: OrderId
    line: str = Field(min_length=1, max_length=64)
    product: ProductId
    quantity: Annotated[int, NoBool] = Field(ge=1, le=10_000_000)
    due: EpochOrIso | None = Field(None, description="When it is due: epoch or ISO 8601.")


class WorkOrderStepIn(Strict):
    """Start or complete a work order."""

    at: EpochOrIso | None = Field(None, description="When (default now).")


class WorkOrderOut(BaseModel):
    """A work order with its progress."""

    id: str
    line: str
    product: str
    quantity: int
    due: str | None
    state: Literal["planned", "started", "paused", "completed"]
    made: int = Field(description="Good parts counted while it ran.")
    remaining: int
    expected_finish: str | None = Field(description="While it runs: when it is done at its rate so far.")
    created_at: str
    created_by: str
    started_at: str | None
    completed_at: str | None


class ImportOut(BaseModel):
    """What a CSV import of work orders did."""

    created: list[str]
    skipped: list[str]
    errors: list[str]
