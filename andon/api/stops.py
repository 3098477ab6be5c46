"""Routes for stops and losses: a line's stops and reason tree, reasons, splits, planned stops, Pareto and OEE."""

from __future__ import annotations

from datetime import date as Date
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query

from andon.api.andons import ERRORS
from andon.api.deps import AllServices, Line
from andon.api.loss_schemas import (
    OeeTrendOut,
    ParetoOut,
    PlannedStopIn,
    SplitIn,
    StopOut,
    StopReasonIn,
    StopReasonOut,
)
from andon.api.security import Operator, Reader, Supervisor
from andon.api.times import epoch
from andon.counting import FIRST_DATE, LAST_DATE
from andon.line import LineRuntime
from andon.services import Services

router = APIRouter(prefix="/api", tags=["losses"])
StopId = Annotated[int, Path(ge=1, le=2_147_483_647, description="Stop id.")]
Day = Annotated[Date | None, Query(ge=FIRST_DATE, le=LAST_DATE)]
MAX_DAYS = 400


def _instant(value: str | float, what: str) -> float:
    return epoch(str(value), what)


@router.get("/lines/{line}/reasons", response_model=list[StopReasonOut], responses=ERRORS)
def list_reasons(_reader: Reader, line: Line) -> list[dict[str, Any]]:
    """Return the line's stop reason tree (the plant's reasons and the line's own), in order."""
    return [r.model_dump() for r in line.reasons.values()]


@router.get("/lines/{line}/stops", response_model=list[StopOut], responses=ERRORS)
def list_stops(
    _reader: Reader, line: Line, services: AllServices,
    from_: Annotated[str | None, Query(alias="from", max_length=64, description="ISO 8601 or epoch seconds.")] = None,
    to: Annotated[str | None, Query(max_length=64, description="ISO 8601 or epoch seconds.")] = None,
) -> list[dict[str, Any]]:
    """Return the line's stops that overlap [from, to) (default: the current, else the latest shift), oldest first."""
    now = services.clock.now()
    if from_ is None and to is None:
        instance = line.calendar.at(now) or line.calendar.latest_started(now)
        if instance is None:
            return []
        t0, t1 = instance.start, instance.end
    else:
        t1 = _instant(to, "to") if to is not None else now
        t0 = _instant(from_, "from") if from_ is not None else t1 - 86400
    if t1 <= t0 or t1 - t0 > MAX_DAYS * 86400:
        raise HTTPException(422, f"from must be before to, and at most {MAX_DAYS} days before it")
    out = []
    for instance in _instances(line, t0, t1, now):
        records = [*services.stops.sync(line, instance, now), *services.stops.planned(line, instance)]
        for record in sorted(records, key=lambda r: r.start):
            end = now if record.end is None else record.end
            if record.start < t1 and end > t0:
                out.append(services.stops.describe(line, record, now))
    return out


def _instances(line: LineRuntime, t0: float, t1: float, now: float) -> list[Any]:
    day = line.calendar.local_date(t0) - timedelta(days=1)
    last = line.calendar.local_date(t1)
    out: list[Any] = []
    while day <= last:
        out.extend(i for i in line.calendar.on_date(day) if i.start < min(t1, now) and i.end > t0)
        day += timedelta(days=1)
    return out


@router.put("/lines/{line}/stops/{stop_id}/reason", response_model=StopOut, responses=ERRORS)
def put_stop_reason(
    stop_id: StopId, body: StopReasonIn, who: Operator, line: Line, services: AllServices,
) -> dict[str, Any]:
    """Give a stop its reason (operators at the line, supervisors, devices through the API)."""
    by = services.people.resolve(body.by) or who.name
    record = services.stops.set_reason(line.id, stop_id, body.reason, body.note, by)
    return services.stops.describe(line, record)


@router.post("/lines/{line}/stops/{stop_id}/split", response_model=list[StopOut], responses=ERRORS)
def split_stop(stop_id: StopId, body: SplitIn, who: Supervisor, line: Line, services: AllServices) -> list[Any]:
    """Split a stop at a time into two, each of which can then get its own reason."""
    halves = services.stops.split(line.id, stop_id, _instant(body.at, "at"), who.name)
    return [services.stops.describe(line, r) for r in halves]


@router.post("/lines/{line}/planned-stops", response_model=StopOut, status_code=201, responses=ERRORS)
def post_planned_stop(body: PlannedStopIn, who: Supervisor, line: Line, services: AllServices) -> dict[str, Any]:
    """Enter a planned stop ahead ("meeting 10:00-10:15"): it is taken out of the plan and of planned production."""
    record = services.stops.add_planned(
        line.id, _instant(body.start, "start"), _instant(body.end, "end"), body.reason, who.name, body.note,
    )
    return services.stops.describe(line, record)


def _scope(services: Services, line: str | None, area: str | None) -> list[LineRuntime]:
    if line is not None and area is not None:
        raise HTTPException(422, "give line or area, not both")
    if line is not None:
        runtime = services.plant.lines.get(line)
        if runtime is None:
            raise HTTPException(404, f"no line {line[:64]!r}; GET /api/lines lists the lines")
        return [runtime]
    if area is not None:
        found = next((a for a in services.config.areas if a.id == area), None)
        if found is None:
            raise HTTPException(404, f"no area {area[:64]!r}")
        return [services.plant.lines[x] for x in found.lines]
    return list(services.plant.lines.values())


def _range(services: Services, lines: list[LineRuntime], first: Date | None, last: Date | None) -> tuple[Date, Date]:
    today = lines[0].calendar.local_date(services.clock.now())
    last = last or today
    first = first or last - timedelta(days=6)
    if first > last or (last - first).days >= MAX_DAYS:
        raise HTTPException(422, f"from must not be after to, and at most {MAX_DAYS} days before it")
    return first, last


@router.get("/losses", response_model=ParetoOut, responses=ERRORS, response_model_by_alias=True)
def get_losses(
    _reader: Reader, services: AllServices,
    line: Annotated[str | None, Query(max_length=64)] = None,
    area: Annotated[str | None, Query(max_length=64)] = None,
    from_: Annotated[Day, Query(alias="from", description="First shift date (default: 6 days before to).")] = None,
    to: Annotated[Day, Query(description="Last shift date (default: today).")] = None,
    by: Literal["reason", "category"] = "reason",
) -> dict[str, Any]:
    """Return the loss Pareto of a line, an area or the plant: stop seconds and occurrences, scrap by reason."""
    lines = _scope(services, line, area)
    first, last = _range(services, lines, from_, to)
    return services.losses.pareto(lines, first, last, by)


@router.get("/oee", response_model=OeeTrendOut, responses=ERRORS, response_model_by_alias=True)
def get_oee(
    _reader: Reader, services: AllServices,
    line: Annotated[str | None, Query(max_length=64)] = None,
    area: Annotated[str | None, Query(max_length=64)] = None,
    from_: Annotated[Day, Query(alias="from", description="First shift date (default: 6 days before to).")] = None,
    to: Annotated[Day, Query(description="Last shift date (default: today).")] = None,
    by: Literal["shift", "day", "week"] = "day",
) -> dict[str, Any]:
    """Return OEE (availability, performance, quality) and the loss waterfall per shift, day or week."""
    lines = _scope(services, line, area)
    first, last = _range(services, lines, from_, to)
    return services.losses.trend(lines, first, last, by)
