"""Routes for lines: live state, the hour-by-hour board, and counts posted over HTTP."""

from __future__ import annotations

from datetime import date as Date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import PlainTextResponse, Response

from andon.api.deps import AllServices, Line, States
from andon.api.loss_schemas import BoardWithLossesOut
from andon.api.schemas import CountIn, CountOut, ErrorOut, LineOut, SourceOut, SourceStatusIn
from andon.api.security import Operator, Reader
from andon.board import board_csv, board_dict
from andon.calendar import ShiftInstance
from andon.counting import FIRST_DATE, LAST_DATE
from andon.line import HTTP_SOURCE, LineRuntime, view_of
from andon.state import LineState

router = APIRouter(prefix="/api", tags=["lines"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {s: {"model": ErrorOut} for s in (401, 403, 404)}


@router.get("/lines", response_model=list[LineOut])
def list_lines(_reader: Reader, services: AllServices) -> list[dict[str, Any]]:
    """List the configured lines with their live state."""
    return [
        {
            "id": line.id,
            "name": line.config.display_name,
            "timezone": services.config.plant.timezone,
            "language": services.config.plant.language,
            "andon_categories": line.config.andon.categories,
            "andon_stations": [{"id": s.id, "name": s.label} for s in line.config.andon.stations],
            "products": [vars(f) for f in line.timeline.figures.values()],
            "state": services.states.of(line.id),
        }
        for line in services.plant.lines.values()
    ]


@router.get("/lines/{line}/state", response_model=LineState, responses=NOT_FOUND)
def get_state(_reader: Reader, line: Line, states: States) -> LineState:
    """Return the live state of one line."""
    return states.of(line.id)


ShiftDate = Annotated[Date | None, Query(description="Local date the shift starts on.", ge=FIRST_DATE, le=LAST_DATE)]
ShiftId = Annotated[str | None, Query(description="Shift id.", max_length=64)]


def shift_or_404(line: LineRuntime, date: Date | None, shift: str | None, now: float) -> ShiftInstance:
    """Pick the shift a request names (default: the current, else the latest); 404 or 400 saying why not."""
    if shift is not None and shift not in {s.id for s in line.calendar.shifts}:
        raise HTTPException(404, f"line {line.id!r} has no shift {shift!r}")
    instance = line.instance_for(date, shift, now)
    if instance is None:
        if shift is None and date is not None and len(line.calendar.on_date(date)) > 1:
            raise HTTPException(400, f"several shifts start on {date}; say which with ?shift=")
        raise HTTPException(404, f"line {line.id!r} has no shift {shift or ''} on {date or 'that date'}")
    return instance


@router.get("/lines/{line}/board", response_model=BoardWithLossesOut, responses={**NOT_FOUND, 400: {"model": ErrorOut}})
def get_board(
    _reader: Reader,
    line: Line,
    services: AllServices,
    date: ShiftDate = None,
    shift: ShiftId = None,
    format: Annotated[Literal["json", "csv"], Query(description="json or csv.")] = "json",
) -> Any:
    """Return the hour-by-hour board of a shift (default: the current, else the latest)."""
    now = services.clock.now()
    instance = shift_or_404(line, date, shift, now)
    board = board_dict(line, instance, now, services.stops)
    if format == "csv":
        return PlainTextResponse(
            board_csv(board),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{line.id}-{board["date"]}-{board["shift"]}.csv"'},
        )
    return board


@router.post(
    "/lines/{line}/counts",
    response_model=CountOut,
    responses={**NOT_FOUND, 422: {"model": ErrorOut}},
)
def post_count(
    body: CountIn,
    _who: Operator,
    line: Line,
    services: AllServices,
    response: Response,
) -> dict[str, Any]:
    """Count parts from a device that speaks HTTP (id-deduplicated, timestamped)."""
    result = services.plant.post_count(
        line.id,
        body.count,
        ts=body.ts,
        event_id=body.id,
        kind=body.kind,
        manual=body.manual,
        buffered=body.buffered,
        source_id=body.source or HTTP_SOURCE,
        marks=body.marks,
        reason=body.reason,
    )
    if result.status == "rejected":
        raise HTTPException(422, f"count rejected ({result.reason}): {result.message}")
    response.status_code = 201 if result.status == "accepted" else 200
    return {"status": result.status, "count": result.count}


@router.put(
    "/lines/{line}/sources/{source}",
    response_model=SourceOut,
    responses={**NOT_FOUND, 422: {"model": ErrorOut}},
)
def put_source_status(
    source: Annotated[str, Path(max_length=64, description="Configured source id.")],
    body: SourceStatusIn,
    _who: Operator,
    line: Line,
    services: AllServices,
) -> dict[str, Any]:
    """Report a source's health from an edge collector; each report is also a heartbeat."""
    if source not in line.sources:
        raise HTTPException(404, f"line {line.id!r} has no source {source!r}")
    services.plant.report_source(line.id, source, body.online, body.detail)
    return view_of(line.sources[source], services.clock.now()).model_dump()
