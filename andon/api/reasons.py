"""Routes for a board's reasons and sign-offs, and a shift's plan override."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from andon.api.andons import ERRORS
from andon.api.deps import AllServices, Line, Problems
from andon.api.schemas import PlanIn, ReasonIn, ReasonOut, SignoffIn, SignoffOut
from andon.api.security import Supervisor
from andon.api.times import epoch
from andon.board import board_dict
from andon.counting import parse_instant

router = APIRouter(prefix="/api")


@router.put("/lines/{line}/board/reason", response_model=ReasonOut, responses=ERRORS, tags=["lines"])
def put_reason(
    body: ReasonIn,
    who: Supervisor,
    line: Line,
    services: AllServices,
    problems: Problems,
) -> dict[str, Any]:
    """Write the reason for one row (by its start); link a problem or open one in the same step."""
    start = epoch(body.start, "start")
    start, problem = problems.set_reason(
        line.id,
        start,
        body.reason,
        services.people.resolve(body.by) or who.name,
        body.problem_id,
        body.open_problem.model_dump() if body.open_problem else None,
    )
    instance = line.calendar.at(start)
    assert instance is not None  # set_reason checked that the row exists
    board = board_dict(line, instance, services.clock.now(), services.stops)
    row = next(r for r in board["rows"] if parse_instant(r["start"]) == start)
    return {"row": row, "problem": problem}


@router.put("/lines/{line}/board/signoff", response_model=SignoffOut, responses=ERRORS, tags=["lines"])
def put_signoff(body: SignoffIn, who: Supervisor, line: Line, services: AllServices) -> dict[str, Any]:
    """Sign off one finished row (by its start); a row that missed its plan needs its reason first (409).

    A row is signed once: signing it again answers the first sign-off (``already``).
    """
    person = services.people.resolve(body.by)
    return services.signoffs.sign(line.id, epoch(body.start, "start"), who.name, person)


@router.put("/lines/{line}/plan", responses=ERRORS, tags=["lines"])
def put_plan(
    body: PlanIn,
    who: Supervisor,
    line: Line,
    services: AllServices,
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
