"""Routes for the shift handover: the report, the outgoing leader's notes, the incoming leader's acknowledgement."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from andon.api.andons import ERRORS
from andon.api.deps import AllServices, Line
from andon.api.lines import ShiftDate, ShiftId, shift_or_404
from andon.api.schemas import HandoverAckAnswer, HandoverNoteIn, HandoverNoteOut, HandoverOut, HandoverShiftIn
from andon.api.security import Reader, Supervisor

router = APIRouter(prefix="/api")


@router.get("/lines/{line}/handover", response_model=HandoverOut, responses=ERRORS, tags=["routines"])
def get_handover(
    _reader: Reader,
    line: Line,
    services: AllServices,
    date: ShiftDate = None,
    shift: ShiftId = None,
) -> dict[str, Any]:
    """Return a shift's handover (default: the current shift, else the latest): results, top losses, open andon
    calls, open and overdue problems, notes and the incoming leader's acknowledgement."""
    instance = shift_or_404(line, date, shift, services.clock.now())
    return services.handover.report(line, instance)


@router.post("/lines/{line}/handover/notes", response_model=HandoverNoteOut, status_code=201, responses=ERRORS,
             tags=["routines"])
def post_handover_note(body: HandoverNoteIn, who: Supervisor, line: Line, services: AllServices) -> dict[str, Any]:
    """Leave a note on a shift for the next one (default: the current shift, else the latest)."""
    instance = shift_or_404(line, body.date, body.shift, services.clock.now())
    if not body.text.strip():
        raise HTTPException(422, "a note needs text (it was blank)")
    person = services.people.resolve(body.by)
    return services.handover.add_note(line, instance, body.text.strip(), who.name, person)


@router.post("/lines/{line}/handover/acknowledge", response_model=HandoverAckAnswer, responses=ERRORS,
             tags=["routines"])
def post_handover_ack(body: HandoverShiftIn, who: Supervisor, line: Line, services: AllServices) -> dict[str, Any]:
    """Acknowledge a shift's handover as the incoming leader (default: the latest shift that is over); once."""
    if body.date is None and body.shift is None:
        instance = services.handover.previous_shift(line)
        if instance is None:
            raise HTTPException(404, f"line {line.id!r} has no shift that is over to take over from")
    else:
        instance = shift_or_404(line, body.date, body.shift, services.clock.now())
    return services.handover.acknowledge(line, instance, who.name, services.people.resolve(body.by))
