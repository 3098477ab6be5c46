"""Routes for andon calls and problems (PDCA), row reasons, plan overrides and summaries."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response

from andon.andons import AndonService
from andon.api.deps import Services, get_line, get_services
from andon.api.schemas import (
    AndonCallOut,
    AndonIn,
    AndonStepIn,
    ErrorOut,
    PlanIn,
    ProblemIn,
    ProblemOut,
    ProblemPatch,
    ReasonIn,
    ReasonOut,
    SuggestionOut,
    SummaryOut,
)
from andon.api.security import Operator, Reader, Supervisor
from andon.board import board_dict
from andon.counting import RejectedReading, parse_instant
from andon.line import LineRuntime
from andon.payload import excerpt
from andon.problems import ProblemService
from andon.summary import Summaries

router = APIRouter(prefix="/api")
RecordId = Annotated[int, Path(ge=1, le=2_147_483_647, description="Record id.")]
ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorOut} for s in (401, 403, 404, 409, 422)}


def get_andons(services: Annotated[Services, Depends(get_services)]) -> AndonService:
    """Return the andon service."""
    andons: AndonService = services.extras["andons"]
    return andons


def get_problems(services: Annotated[Services, Depends(get_services)]) -> ProblemService:
    """Return the problem service."""
    problems: ProblemService = services.extras["problems"]
    return problems


def _epoch(text: str, what: str) -> float:
    try:
        return parse_instant(text)
    except RejectedReading as exc:
        raise HTTPException(
            422, f"{what} {excerpt(text)} is not a time (ISO 8601 with offset, or epoch seconds): {exc}"
        ) from None


# --- andon calls -------------------------------------------------------------------------
@router.post("/andons", response_model=AndonCallOut, status_code=201, responses=ERRORS, tags=["andon"])
def raise_andon(
    body: AndonIn, who: Operator, andons: Annotated[AndonService, Depends(get_andons)], response: Response
) -> dict[str, Any]:
    """Raise an andon call; an open call for the same line, station and category is returned (200)."""
    if body.line not in andons.plant.lines:
        raise HTTPException(404, f"no line {body.line!r}")
    call, created = andons.raise_call(body.line, body.station, body.category, who.name, body.note or "")
    if not created:
        response.status_code = 200
    return call


@router.post("/andons/{call_id}/acknowledge", response_model=AndonCallOut, responses=ERRORS, tags=["andon"])
def acknowledge_andon(
    call_id: RecordId,
    who: Operator,
    andons: Annotated[AndonService, Depends(get_andons)],
    body: AndonStepIn | None = None,
) -> dict[str, Any]:
    """Acknowledge a raised call (someone is on the way)."""
    return andons.acknowledge(call_id, who.name, (body.note or "") if body else "")


@router.post("/andons/{call_id}/resolve", response_model=AndonCallOut, responses=ERRORS, tags=["andon"])
def resolve_andon(
    call_id: RecordId,
    who: Operator,
    andons: Annotated[AndonService, Depends(get_andons)],
    body: AndonStepIn | None = None,
) -> dict[str, Any]:
    """Resolve an open call."""
    return andons.resolve(call_id, who.name, (body.note or "") if body else "")


@router.get("/andons", response_model=list[AndonCallOut], responses=ERRORS, tags=["andon"])
def list_andons(
    _reader: Reader,
    andons: Annotated[AndonService, Depends(get_andons)],
    line: Annotated[str | None, Query(max_length=64)] = None,
    state: Literal["open", "raised", "acknowledged", "resolved"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """List andon calls, newest first."""
    return andons.find(line, state, limit)


@router.get("/andons/{call_id}", response_model=AndonCallOut, responses=ERRORS, tags=["andon"])
def get_andon(
    call_id: RecordId, _reader: Reader, andons: Annotated[AndonService, Depends(get_andons)]
) -> dict[str, Any]:
    """Return one andon call."""
    return andons.get(call_id)


# --- problems ----------------------------------------------------------------------------
@router.post("/problems", response_model=ProblemOut, status_code=201, responses=ERRORS, tags=["problems"])
def create_problem(
    body: ProblemIn, who: Supervisor, problems: Annotated[ProblemService, Depends(get_problems)]
) -> dict[str, Any]:
    """Open a problem, linked to the andon calls and board rows that caused it."""
    fields = body.model_dump()
    fields["rows"] = [_epoch(r, "row start") for r in body.rows]
    return problems.create(fields, who.name)


@router.patch("/problems/{problem_id}", response_model=ProblemOut, responses=ERRORS, tags=["problems"])
def update_problem(
    problem_id: RecordId,
    body: ProblemPatch,
    who: Supervisor,
    problems: Annotated[ProblemService, Depends(get_problems)],
) -> dict[str, Any]:
    """Update a problem: PDCA status, owner, due date, root cause, countermeasure, links."""
    fields = body.model_dump(exclude_unset=True)
    fields["rows"] = [_epoch(r, "row start") for r in body.rows or []]
    return problems.update(problem_id, fields, who.name)


@router.get("/problems", response_model=list[ProblemOut], responses=ERRORS, tags=["problems"])
def list_problems(
    _reader: Reader,
    problems: Annotated[ProblemService, Depends(get_problems)],
    line: Annotated[str | None, Query(max_length=64)] = None,
    status: Literal["open", "plan", "do", "check", "act", "closed"] | None = None,
    owner: Annotated[str | None, Query(max_length=128)] = None,
) -> list[dict[str, Any]]:
    """List problems, newest first."""
    return problems.find(line, status, owner)


@router.get("/problems/suggestions", response_model=list[SuggestionOut], responses=ERRORS, tags=["problems"])
def problem_suggestions(
    _reader: Reader,
    problems: Annotated[ProblemService, Depends(get_problems)],
    line: Annotated[str | None, Query(max_length=64)] = None,
    min_rows: Annotated[int, Query(ge=2, le=100)] = 3,
) -> list[dict[str, Any]]:
    """Suggest problems: a reason written on at least min_rows rows of a line within 7 days."""
    return problems.suggestions(line, min_rows)


@router.get("/problems/{problem_id}", response_model=ProblemOut, responses=ERRORS, tags=["problems"])
def get_problem(
    problem_id: RecordId, _reader: Reader, problems: Annotated[ProblemService, Depends(get_problems)]
) -> dict[str, Any]:
    """Return one problem with its links and check figures."""
    return problems.get(problem_id)


# --- board reasons, plan, summaries ------------------------------------------------------
@router.put("/lines/{line}/board/reason", response_model=ReasonOut, responses=ERRORS, tags=["lines"])
def put_reason(
    body: ReasonIn,
    who: Supervisor,
    line: Annotated[LineRuntime, Depends(get_line)],
    services: Annotated[Services, Depends(get_services)],
    problems: Annotated[ProblemService, Depends(get_problems)],
) -> dict[str, Any]:
    """Write the reason for one row (by its start); link a problem or open one in the same step."""
    start = _epoch(body.start, "start")
    start, problem = problems.set_reason(
        line.id,
        start,
        body.reason,
        who.name,
        body.problem_id,
        body.open_problem.model_dump() if body.open_problem else None,
    )
    instance = line.calendar.at(start)
    assert instance is not None  # set_reason checked that the row exists
    board = board_dict(line, instance, services.clock.now())
    row = next(r for r in board["rows"] if parse_instant(r["start"]) == start)
    return {"row": row, "problem": problem}


@router.put("/lines/{line}/plan", responses=ERRORS, tags=["lines"])
def put_plan(
    body: PlanIn,
    who: Supervisor,
    line: Annotated[LineRuntime, Depends(get_line)],
    services: Annotated[Services, Depends(get_services)],
) -> dict[str, Any]:
    """Override takt or demand for one shift of one date."""
    if (body.takt_seconds is None) == (body.demand_per_shift is None):
        raise HTTPException(422, "give exactly one of takt_seconds and demand_per_shift")
    instance = line.calendar.instance(body.shift, body.date)
    if instance is None:
        raise HTTPException(404, f"line {line.id!r} has no shift {body.shift!r} on {body.date}")
    services.plant.set_override(
        line.id, body.date.isoformat(), body.shift, body.takt_seconds, body.demand_per_shift, who.name
    )
    plan = line.plan_for(instance)
    return {
        "line": line.id,
        "date": body.date.isoformat(),
        "shift": body.shift,
        "takt_seconds": plan.takt_seconds,
        "shift_target": plan.target,
        "set_by": who.name,
    }


@router.get("/summary/daily", response_model=list[SummaryOut], responses=ERRORS, tags=["trends"])
def summary_daily(
    _reader: Reader,
    line: Annotated[LineRuntime, Depends(get_line)],
    services: Annotated[Services, Depends(get_services)],
    days: Annotated[int, Query(ge=1, le=92)] = 14,
) -> list[dict[str, Any]]:
    """Plan attainment, downtime and andon response per day."""
    return Summaries(services.plant, services.clock).daily(line.id, days)


@router.get("/summary/weekly", response_model=list[SummaryOut], responses=ERRORS, tags=["trends"])
def summary_weekly(
    _reader: Reader,
    line: Annotated[LineRuntime, Depends(get_line)],
    services: Annotated[Services, Depends(get_services)],
    weeks: Annotated[int, Query(ge=1, le=53)] = 8,
) -> list[dict[str, Any]]:
    """Plan attainment, downtime and andon response per ISO week."""
    return Summaries(services.plant, services.clock).weekly(line.id, weeks)
