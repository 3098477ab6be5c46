"""Request and response models of the API."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from andon.counting import FIRST_DATE, LAST_DATE
from andon.state import CurrentInterval, LineState, ShiftView, SourceView


def _not_a_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a number is needed here, not true or false")
    return value


def _printable(value: str | None) -> str | None:
    if value is not None and any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must not hold control characters")
    return value


# JSON true/false would pass as 1/0 in pydantic's lax mode; a count or a takt is never a boolean.
NoBool = BeforeValidator(_not_a_boolean)
# The dates a shift calendar holds (a date past them cannot be turned into shift times).
PlantDate = Annotated[date, Field(ge=FIRST_DATE, le=LAST_DATE)]
RecordRef = Annotated[int, Field(ge=1, le=2_147_483_647), NoBool]
RowStart = Annotated[str, Field(max_length=64)]


class Strict(BaseModel):
    """A request body that refuses unknown keys."""

    model_config = ConfigDict(extra="forbid")


# The live state is the engine's own model (andon/state.py); these names keep the API's schema readable.
ShiftOut = ShiftView
IntervalOut = CurrentInterval
SourceOut = SourceView
LineStateOut = LineState


class StationOut(BaseModel):
    """A configured andon station."""

    id: str
    name: str


class ProductOut(BaseModel):
    """A product a line may run, with its figures there."""

    id: str
    name: str
    takt_seconds: float | None
    demand_per_shift: int | None
    ideal_cycle_seconds: float | None
    parts_per_cycle: int | None


class LineOut(BaseModel):
    """A configured line with its live state."""

    id: str
    name: str
    timezone: str = Field(description="The plant's IANA timezone (shifts are in its local time).")
    language: str = Field("en", description="The plant's language (plant.language): what pages, displays and "
                          "notifications speak unless a device or person chooses another.")
    andon_categories: list[str] = Field(description="Categories an operator can raise on this line.")
    andon_stations: list[StationOut] = Field(description="Stations calls are raised at (empty: any station name).")
    products: list[ProductOut] = Field(default_factory=list, description="Products the line may run, in order.")
    state: LineStateOut


class BoardRowOut(BaseModel):
    """One hour-by-hour row."""

    start: str
    end: str
    planned: int = Field(description="Plan of the whole row: plan(end) - plan(start).")
    planned_so_far: int = Field(
        description="Plan of the row up to now: equals planned once the row is over, 0 before it starts."
    )
    actual: int | None
    delta: int | None = Field(description="actual - planned_so_far.")
    cum_planned: int = Field(description="Cumulative plan at the row's end: plan(end).")
    cum_planned_so_far: int = Field(description="Cumulative plan up to now or the row's end, whichever is first.")
    cum_actual: int | None
    cum_delta: int | None = Field(
        description="cum_actual - cum_planned_so_far; on the current row it equals the live state's delta."
    )
    scrap: int | None
    condition: str = Field(description="normal, warning, abnormal, off or pending; measured against planned_so_far.")
    current: bool
    reason_required: bool = Field(
        description="The row is over and missed its plan by more than the line's reason_behind parts."
    )
    reason: str | None
    reason_by: str | None = Field(None, description="Who wrote the reason (the token's name).")
    problem_id: int | None
    problem_status: str | None = None
    trust: list[str] = Field(default_factory=list, description="Why this row's actual is not fully trusted.")
    products: list[str] = Field(default_factory=list, description="Products run in the row (so far), in order.")
    signed_off_at: str | None = Field(None, description="When the finished row was signed off (null: not yet).")
    signed_off_by: str | None = Field(None, description="The token (device) that signed it off.")
    signed_off_person: str | None = Field(None, description="The person named in the sign-off (its \"by\"), if any.")


class BoardRunOut(BaseModel):
    """A run inside a board's shift."""

    product: str
    name: str
    start: str = Field(description="The run's start, or the shift's when it began before.")
    end: str | None = Field(description="The run's end; null while it goes on past now or the shift's end.")
    work_order: str | None


class SpanOut(BaseModel):
    """A span of time."""

    start: str
    end: str


class BoardOut(BaseModel):
    """The hour-by-hour board of one shift of one line."""

    line: str
    name: str
    date: str
    shift: str
    start: str
    end: str
    timezone: str = Field(description="The plant's IANA timezone (the CSV's *_local columns are in it).")
    takt_seconds: float | None = Field(description="The takt now (the current product's), or at the shift's end.")
    shift_target: int
    rows: list[BoardRowOut]
    product_names: dict[str, str] = Field(default_factory=dict, description="Name of each product the line runs.")
    runs: list[BoardRunOut] = Field(default_factory=list, description="Runs of the shift up to now.")
    changeover_overruns: list[SpanOut] = Field(
        default_factory=list, description="Changeover time beyond its target: unplanned stops, changeover_overrun."
    )
    not_scheduled: list[SpanOut] = Field(default_factory=list, description="Not-scheduled time of the shift so far.")


class CountIn(Strict):
    """Parts counted by a device that speaks HTTP."""

    count: Annotated[int, NoBool] = Field(1, ge=0, le=1_000_000, description="Parts in this event.")
    ts: Annotated[float | Annotated[str, Field(max_length=64)] | None, NoBool] = Field(
        None, description="Event time: epoch seconds or ISO 8601 with offset."
    )
    id: Annotated[str | None, AfterValidator(_printable)] = Field(
        None, max_length=128, description="Event id; repeats are counted once (a blank id is no id)."
    )
    kind: Literal["good", "scrap"] = Field("good", description="Good parts or scrap.")
    manual: bool = Field(False, description="Counted by a person, not a machine (marked on the board).")
    buffered: bool = Field(False, description="Held by an edge collector while the server was away.")
    marks: list[Literal["credited_after_outage", "after_reset", "rollover"]] = Field(
        default_factory=list, max_length=3,
        description="What an edge collector's counter saw: parts credited after its own outage, the first count "
        "after a counter reset, a counter rollover (shown as trust marks on the board).",
    )
    source: str | None = Field(
        None, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
        description="Configured source id this count belongs to (edge collectors); default the line's http source.",
    )
    reason: str | None = Field(
        None, min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_]*$",
        description="Scrap reason code from the line's reason tree (scrap only).",
    )


class SourceStatusIn(Strict):
    """A source's health as seen by an edge collector (also a heartbeat)."""

    online: bool = Field(description="Whether the source answers.")
    detail: str = Field("", max_length=300, description="Why not, in words (e.g. PLC 10.0.0.5 unreachable).")


class CountOut(BaseModel):
    """What became of a posted count."""

    status: Literal["accepted", "duplicate"]
    count: int


class ErrorOut(BaseModel):
    """An error: what is wrong."""

    detail: str


class AndonIn(Strict):
    """Raise an andon call."""

    line: str = Field(min_length=1, max_length=64, description="Line id.")
    station: str = Field(min_length=1, max_length=64, description="Station at the line.")
    category: str = Field(min_length=1, max_length=64, description="One of the line's andon categories.")
    note: str | None = Field(None, max_length=2000, description="What is wrong, in words.")


class AndonStepIn(Strict):
    """Acknowledge or resolve an andon call."""

    note: str | None = Field(None, max_length=2000, description="What was done.")
    by: str | None = Field(None, min_length=1, max_length=128,
                           description="Person id or badge (default: the token's name), kept as acknowledged_by / "
                           "resolved_by.")


class EscalationOut(BaseModel):
    """One escalation step."""

    tier: str
    tier_index: int
    at: str


class AndonCallOut(BaseModel):
    """An andon call."""

    id: int
    line: str
    station: str
    category: str
    state: Literal["raised", "acknowledged", "resolved"]
    raised_at: str
    raised_by: str
    acknowledged_at: str | None
    acknowledged_by: str | None
    resolved_at: str | None
    resolved_by: str | None
    tier: str
    tier_index: int
    escalations: list[EscalationOut]
    age_seconds: float
    note: str


Status = Literal["open", "plan", "do", "check", "act", "closed"]


class ProblemIn(Strict):
    """Open a problem."""

    title: str = Field(min_length=1, max_length=200)
    line: str = Field(min_length=1, max_length=64)
    category: str | None = Field(None, max_length=64)
    description: str | None = Field(None, max_length=10_000)
    owner: str | None = Field(None, max_length=128)
    due_date: PlantDate | None = None
    andon_call_ids: list[RecordRef] = Field(default_factory=list, max_length=100)
    rows: list[RowStart] = Field(default_factory=list, max_length=100, description="Start times of linked board rows.")
    reason_code: str | None = Field(
        None, max_length=64, pattern=r"^[a-z0-9][a-z0-9_]*$", description="The stop reason code the problem attacks.",
    )


class ProblemPatch(Strict):
    """Change a problem."""

    title: str | None = Field(None, min_length=1, max_length=200)
    category: str | None = Field(None, max_length=64)
    description: str | None = Field(None, max_length=10_000)
    owner: str | None = Field(None, max_length=128)
    due_date: PlantDate | None = None
    root_cause: str | None = Field(None, max_length=10_000)
    countermeasure: str | None = Field(None, max_length=10_000)
    countermeasure_date: PlantDate | None = None
    status: Status | None = None
    andon_call_ids: list[RecordRef] = Field(default_factory=list, max_length=100)
    rows: list[RowStart] | None = Field(None, max_length=100)
    reason_code: str | None = Field(
        None, max_length=64, pattern=r"^[a-z0-9][a-z0-9_]*$", description="The stop reason code the problem attacks.",
    )


class RowLinkOut(BaseModel):
    """A board row linked to a problem."""

    line: str
    start: str


class CheckOut(BaseModel):
    """How often the problem's reason was written before and after the countermeasure."""

    reason: str
    before: int
    after: int
    since: str
    window_days: int


class StopWeekOut(BaseModel):
    """One week of a reason code's stops."""

    from_: str = Field(alias="from")
    after: bool
    stops: int
    minutes: float


class StopTotalOut(BaseModel):
    """Stops and minutes of several weeks."""

    stops: int
    minutes: float


class StopCheckOut(BaseModel):
    """A reason code's stops per week, four weeks before and after the countermeasure date."""

    code: str
    since: str
    weeks: list[StopWeekOut]
    before: StopTotalOut
    after: StopTotalOut


class ProblemOut(BaseModel):
    """A problem in the improvement loop."""

    id: int
    title: str
    line: str
    category: str
    description: str
    owner: str
    due_date: str | None
    root_cause: str
    countermeasure: str
    countermeasure_date: str | None
    status: Status
    overdue: bool
    created_at: str
    updated_at: str
    created_by: str
    andon_call_ids: list[int]
    rows: list[RowLinkOut]
    check: CheckOut | None
    reason_code: str | None = None
    stop_check: StopCheckOut | None = Field(
        None, description="The linked reason code's stops per week, before and after the countermeasure date.",
    )


class NewProblemIn(Strict):
    """A problem opened from a board row."""

    title: str = Field(min_length=1, max_length=200)
    owner: str | None = Field(None, max_length=128)
    due_date: PlantDate | None = None
    category: str | None = Field(None, max_length=64)


class ReasonIn(Strict):
    """The reason for one board row."""

    start: str = Field(max_length=64, description="Row start, ISO 8601 with offset or epoch seconds.")
    reason: str = Field(min_length=1, max_length=2000)
    by: str | None = Field(None, min_length=1, max_length=128,
                           description="Person id or badge of who explains (default: the token's name).")
    problem_id: RecordRef | None = None
    open_problem: NewProblemIn | None = None


class ReasonOut(BaseModel):
    """The row after its reason was written, and the linked problem."""

    row: BoardRowOut
    problem: ProblemOut | None


class SignoffIn(Strict):
    """Sign off one finished board row."""

    start: str = Field(max_length=64, description="Row start, ISO 8601 with offset or epoch seconds.")
    by: str | None = Field(None, min_length=1, max_length=128,
                           description="Person id or badge of who signs (the token's name is kept beside it).")


class SignoffOut(BaseModel):
    """A row's sign-off: the first one, when the row was signed before (``already``)."""

    line: str
    start: str
    end: str
    signed_off_at: str
    signed_off_by: str = Field(description="The token (device) that signed the row off.")
    signed_off_person: str | None = Field(description="The person named in the sign-off, if any.")
    delay_seconds: float = Field(description="Seconds from the row's end to its sign-off.")
    already: bool = Field(description="The row was signed off before; this answer is that first sign-off.")


class HandoverShiftIn(Strict):
    """Which shift a handover request is about (default: see each route)."""

    date: PlantDate | None = Field(None, description="Local date the shift starts on.")
    shift: str | None = Field(None, min_length=1, max_length=64, description="Shift id.")
    by: str | None = Field(None, min_length=1, max_length=128,
                           description="Person id or badge (the token's name is kept beside it).")


class HandoverNoteIn(HandoverShiftIn):
    """A note for the next shift."""

    text: str = Field(min_length=1, max_length=4000, description="What the next shift must know.")


class HandoverNoteOut(BaseModel):
    """A note left on a shift."""

    id: int
    text: str
    by: str = Field(description="The token (device) that wrote it.")
    person: str | None
    at: str


class HandoverAckOut(BaseModel):
    """The incoming leader's acknowledgement of a shift's handover."""

    by: str = Field(description="The token (device) that acknowledged it.")
    person: str | None
    at: str


class HandoverAckAnswer(HandoverAckOut):
    """The acknowledgement, with the shift it is of; ``already``: it was given before (this is that first one)."""

    line: str
    date: str
    shift: str
    already: bool


class HandoverResultsOut(BaseModel):
    """A shift's results up to its end (or now, while it runs)."""

    shift_target: int
    planned: int = Field(description="Plan up to the end of the shift, or up to now while it runs.")
    actual: int
    delta: int
    scrap: int
    attainment: float | None
    rows_finished: int
    rows_missed: int = Field(description="Finished rows that missed their plan by more than reason_behind.")
    rows_missed_without_reason: int
    rows_signed_off: int
    oee: float | None


class HandoverLossOut(BaseModel):
    """Unplanned stop time of one reason in the shift (reason null: unexplained)."""

    reason: str | None
    reason_name: str | None
    category: str | None
    stops: int
    minutes: float


class HandoverProblemOut(BaseModel):
    """A problem of the line still open."""

    id: int
    title: str
    status: str
    owner: str
    due_date: str | None
    overdue: bool


class HandoverProblemsOut(BaseModel):
    """The line's problems not closed, and those past their due date."""

    open: list[HandoverProblemOut]
    overdue: list[HandoverProblemOut]


class HandoverOut(BaseModel):
    """One shift of one line, as the outgoing leader hands it over."""

    line: str
    name: str
    date: str
    shift: str
    start: str
    end: str
    at: str = Field(description="When this handover was made (figures are up to then while the shift runs).")
    over: bool = Field(description="The shift has ended.")
    results: HandoverResultsOut
    top_losses: list[HandoverLossOut] = Field(description="Unplanned stop time by reason, most first (top 5).")
    open_andons: list[AndonCallOut]
    problems: HandoverProblemsOut
    notes: list[HandoverNoteOut]
    acknowledgement: HandoverAckOut | None


class AreaOut(BaseModel):
    """An area of the plant."""

    id: str
    name: str
    leader: str | None
    lines: list[str]


SqdcColour = Literal["green", "red", "none"]


class SqdcDayOut(BaseModel):
    """One day of the SQDC board; ``red`` gives, per red letter, the facts of each line that made it red."""

    date: str
    S: SqdcColour
    Q: SqdcColour
    D: SqdcColour
    C: SqdcColour
    red: dict[str, list[dict[str, Any]]]


class SqdcOut(BaseModel):
    """A month of the SQDC board for an area (or the plant)."""

    area: str | None = Field(description="The area; null: the whole plant.")
    name: str
    month: str
    today: str = Field(description="The plant's local date now.")
    lines: list[str]
    rules: dict[str, str] = Field(description="Each letter's rule in words (English).")
    rule_values: dict[str, dict[str, Any]] = Field(
        description="Each letter's threshold: S categories, Q max_scrap_rate, D min_attainment (fractions), "
        "C max_downtime_minutes.",
    )
    days: list[SqdcDayOut]


class EnterpriseLineOut(BaseModel):
    """A line of a plant in the enterprise view."""

    line: str
    name: str
    condition: str
    reason: str
    plan_to_date: int
    actual_to_date: int
    delta: int
    open_andons: int


class EnterprisePlantOut(BaseModel):
    """A plant in the enterprise view; figures are null for a plant that could not be read."""

    id: str = Field(description="local: this server's plant; else the id under enterprise.plants.")
    name: str
    url: str | None
    reachable: bool
    error: str | None = Field(description="Why the plant could not be read (null when it was).")
    lines: list[EnterpriseLineOut]
    plan_to_date: int | None
    actual_to_date: int | None
    delta: int | None
    abnormal: int | None
    warning: int | None
    stale: int | None
    open_andons: int | None


class EnterpriseTotalsOut(BaseModel):
    """The plants read, added up."""

    plants: int
    reachable: int
    lines: int
    plan_to_date: int
    actual_to_date: int
    delta: int
    abnormal: int
    warning: int
    stale: int
    open_andons: int


class EnterpriseOut(BaseModel):
    """Every plant side by side."""

    plants: list[EnterprisePlantOut]
    totals: EnterpriseTotalsOut


class NotificationOut(BaseModel):
    """One delivery of an andon event: to a person's e-mail or to a channel."""

    id: int
    event: str
    channel: str = Field(description="email, teams, slack, ntfy or webhook.")
    target: str = Field(description="The e-mail address, or the channel id.")
    person: str | None
    status: str = Field(description="queued (to send or to retry), sent, or failed after every try.")
    attempts: int
    last_error: str | None
    created_at: str
    updated_at: str


class SuggestionOut(BaseModel):
    """A reason recurring often enough to become a problem: a row reason written again and again, or a stop code."""

    line: str
    reason: str
    rows: int
    row_starts: list[str]
    code: str | None = Field(None, description="A recurring stop reason code (then stops and minutes say how much).")
    stops: int | None = None
    minutes: float | None = None
    stop_ids: list[int] = Field(default_factory=list)


class PlanIn(Strict):
    """A takt or demand override for one shift."""

    date: PlantDate
    shift: str = Field(min_length=1, max_length=64)
    takt_seconds: Annotated[float | None, NoBool] = Field(None, ge=0.001, le=86400)
    demand_per_shift: Annotated[int | None, NoBool] = Field(None, gt=0, le=10_000_000)


class AndonStatsOut(BaseModel):
    """Andon figures of one category; calls still waiting count with their age so far."""

    count: int
    open: int = Field(description="Calls of the period not resolved yet.")
    unacknowledged: int = Field(description="Calls of the period not acknowledged yet.")
    mean_response_s: float | None = Field(
        description="Mean seconds from raise to acknowledge; a call not acknowledged yet counts with its age now."
    )
    p90_response_s: float | None
    mean_resolution_s: float | None = Field(
        description="Mean seconds from raise to resolve; a call still open counts with its age now."
    )
    p90_resolution_s: float | None


class SummaryOut(BaseModel):
    """A day's or week's figures for one line; figures are null for a period without data."""

    period: str
    line: str
    shifts: int = Field(description="Shifts counted: started, scheduled and not before the line's first count.")
    planned: int | None
    actual: int | None
    attainment: float | None
    scrap: int | None
    downtime_minutes: float | None
    andon: dict[str, AndonStatsOut]
    signoff: SignoffStatsOut


class SignoffStatsOut(BaseModel):
    """How a period's finished rows (those with available time) were signed off."""

    rows: int = Field(description="Finished rows that have available time (rows to sign).")
    signed: int = Field(description="Of those, rows signed off.")
    rate: float | None = Field(description="signed / rows; null without finished rows.")
    median_delay_seconds: float | None = Field(description="Median seconds from a row's end to its sign-off.")

