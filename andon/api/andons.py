"""Routes for andon calls: raise, acknowledge, resolve, list."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response

from andon.api.deps import AllServices, Andons, PeopleDep
from andon.api.schemas import AndonCallOut, AndonIn, AndonStepIn, ErrorOut, NotificationOut
from andon.api.security import Operator, Reader

router = APIRouter(prefix="/api")
RecordId = Annotated[int, Path(ge=1, le=2_147_483_647, description="Record id.")]
ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorOut} for s in (401, 403, 404, 409, 422)}


@router.post("/andons", response_model=AndonCallOut, status_code=201, responses=ERRORS, tags=["andon"])
def raise_andon(
    body: AndonIn, who: Operator, andons: Andons, response: Response
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
    andons: Andons,
    people: PeopleDep,
    body: AndonStepIn | None = None,
) -> dict[str, Any]:
    """Acknowledge a raised call (someone is on the way)."""
    by = people.resolve(body.by if body else None) or who.name
    return andons.acknowledge(call_id, by, (body.note or "") if body else "")


@router.post("/andons/{call_id}/resolve", response_model=AndonCallOut, responses=ERRORS, tags=["andon"])
def resolve_andon(
    call_id: RecordId,
    who: Operator,
    andons: Andons,
    people: PeopleDep,
    body: AndonStepIn | None = None,
) -> dict[str, Any]:
    """Resolve an open call."""
    by = people.resolve(body.by if body else None) or who.name
    return andons.resolve(call_id, by, (body.note or "") if body else "")


@router.get("/andons", response_model=list[AndonCallOut], responses=ERRORS, tags=["andon"])
def list_andons(
    _reader: Reader,
    andons: Andons,
    line: Annotated[str | None, Query(max_length=64)] = None,
    state: Literal["open", "raised", "acknowledged", "resolved"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """List andon calls, newest first."""
    return andons.find(line, state, limit)


@router.get("/andons/{call_id}", response_model=AndonCallOut, responses=ERRORS, tags=["andon"])
def get_andon(
    call_id: RecordId, _reader: Reader, andons: Andons
) -> dict[str, Any]:
    """Return one andon call."""
    return andons.get(call_id)


@router.get("/andons/{call_id}/notifications", response_model=list[NotificationOut], responses=ERRORS,
            tags=["andon"])
def get_andon_notifications(call_id: RecordId, _reader: Reader, andons: Andons, services: AllServices) -> list[
    dict[str, Any]
]:
    """Return a call's delivery log: every e-mail and channel message of its events, queued, sent or failed."""
    andons.get(call_id)  # 404 for no such call
    return services.notifier.log_of(call_id)
