"""Routes for problems (PDCA): open, update, list, suggestions."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from andon.api.andons import ERRORS, RecordId
from andon.api.deps import Problems
from andon.api.schemas import ProblemIn, ProblemOut, ProblemPatch, SuggestionOut
from andon.api.security import Reader, Supervisor
from andon.api.times import epoch

router = APIRouter(prefix="/api")


@router.post("/problems", response_model=ProblemOut, status_code=201, responses=ERRORS, tags=["problems"])
def create_problem(
    body: ProblemIn, who: Supervisor, problems: Problems
) -> dict[str, Any]:
    """Open a problem, linked to the andon calls and board rows that caused it."""
    fields = body.model_dump()
    fields["rows"] = [epoch(r, "row start") for r in body.rows]
    return problems.create(fields, who.name)


@router.patch("/problems/{problem_id}", response_model=ProblemOut, responses=ERRORS, tags=["problems"])
def update_problem(
    problem_id: RecordId,
    body: ProblemPatch,
    who: Supervisor,
    problems: Problems,
) -> dict[str, Any]:
    """Update a problem: PDCA status, owner, due date, root cause, countermeasure, links."""
    fields = body.model_dump(exclude_unset=True)
    fields["rows"] = [epoch(r, "row start") for r in body.rows or []]
    return problems.update(problem_id, fields, who.name)


@router.get("/problems", response_model=list[ProblemOut], responses=ERRORS, tags=["problems"])
def list_problems(
    _reader: Reader,
    problems: Problems,
    line: Annotated[str | None, Query(max_length=64)] = None,
    status: Literal["open", "plan", "do", "check", "act", "closed"] | None = None,
    owner: Annotated[str | None, Query(max_length=128)] = None,
) -> list[dict[str, Any]]:
    """List problems, newest first."""
    return problems.find(line, status, owner)


@router.get("/problems/suggestions", response_model=list[SuggestionOut], responses=ERRORS, tags=["problems"],
            response_model_exclude_unset=True)
def problem_suggestions(
    _reader: Reader,
    problems: Problems,
    line: Annotated[str | None, Query(max_length=64)] = None,
    min_rows: Annotated[int, Query(ge=2, le=100)] = 3,
) -> list[dict[str, Any]]:
    """Suggest problems: a stop reason code that recurs (losses.propose_after_stops or _minutes in 7 days), and
    a row reason written on at least min_rows rows of a line within 7 days."""
    codes = problems.code_suggestions(line) if line is None or line in problems.plant.lines else []
    return [*codes, *problems.suggestions(line, min_rows)]


@router.get("/problems/{problem_id}", response_model=ProblemOut, responses=ERRORS, tags=["problems"])
def get_problem(
    problem_id: RecordId, _reader: Reader, problems: Problems
) -> dict[str, Any]:
    """Return one problem with its links and check figures."""
    return problems.get(problem_id)
