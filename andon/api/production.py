"""Routes for production: the product a line makes, its not-scheduled periods, and work orders."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request

from andon.api.andons import ERRORS
from andon.api.deps import Line, Orders, Products
from andon.api.production_schemas import (
    ImportOut,
    ProductChangeOut,
    ProductIn,
    RunOut,
    ScheduleIn,
    ScheduleOut,
    WorkOrderIn,
    WorkOrderOut,
    WorkOrderStepIn,
)
from andon.api.security import Reader, Supervisor
from andon.counting import RejectedReading, parse_instant
from andon.payload import excerpt

router = APIRouter(prefix="/api")
MAX_CSV_BYTES = 1_000_000
Moment = Annotated[str | None, Query(max_length=64, description="ISO 8601 with offset, or epoch seconds.")]


def moment(value: float | str | None, what: str) -> float | None:
    """Return epoch seconds of a time given in a request (None stays None), or a 422 saying what is wrong."""
    if value is None:
        return None
    try:
        return parse_instant(value)
    except RejectedReading as exc:
        raise HTTPException(422, f"{what} {excerpt(value)} is not a time (ISO 8601 with offset, or epoch "
                                 f"seconds): {exc}") from None


@router.put("/lines/{line}/product", response_model=ProductChangeOut, responses=ERRORS, tags=["production"])
def put_product(body: ProductIn, who: Supervisor, line: Line, products: Products) -> dict[str, Any]:
    """Set the product a line is making (and the work order), now or at a time it already happened."""
    return products.set_product(
        line.id, body.product, at=moment(body.at, "at"), work_order=body.work_order, by=who.name, source="api"
    )


@router.get("/lines/{line}/runs", response_model=list[RunOut], responses=ERRORS, tags=["production"])
def get_runs(
    _reader: Reader, line: Line, products: Products, start: Annotated[Moment, Query(alias="from")] = None,
    end: Annotated[Moment, Query(alias="to")] = None,
) -> list[dict[str, Any]]:
    """List a line's runs overlapping [from, to) (default: the last 24 hours, and the run going on now)."""
    now = products.clock.now()
    t1 = moment(end, "to") or now + 1.0
    t0 = moment(start, "from") or now - 86400
    return products.runs(line.id, t0, t1)


@router.put("/lines/{line}/schedule", response_model=ScheduleOut, responses=ERRORS, tags=["production"])
def put_schedule(body: ScheduleIn, who: Supervisor, line: Line, products: Products) -> dict[str, Any]:
    """Mark a period of a line not scheduled (plan 0, condition off) or scheduled again."""
    periods = products.set_schedule(line.id, body.scheduled, moment(body.start, "from"), moment(body.end, "to"),
                                    body.reason, who.name)
    return {"line": line.id, "not_scheduled": periods}


@router.get("/lines/{line}/schedule", response_model=ScheduleOut, responses=ERRORS, tags=["production"])
def get_schedule(
    _reader: Reader, line: Line, products: Products, start: Annotated[Moment, Query(alias="from")] = None,
    end: Annotated[Moment, Query(alias="to")] = None,
) -> dict[str, Any]:
    """List a line's not-scheduled periods overlapping [from, to) (default: all)."""
    return {"line": line.id, "not_scheduled": products.schedule(line.id, moment(start, "from"), moment(end, "to"))}


@router.post("/work-orders", response_model=WorkOrderOut, status_code=201, responses=ERRORS, tags=["production"])
def post_work_order(body: WorkOrderIn, who: Supervisor, orders: Orders) -> dict[str, Any]:
    """Create a work order (planned until started)."""
    return orders.create(body.id, body.line, body.product, body.quantity, moment(body.due, "due"), who.name)


@router.post("/work-orders/import", response_model=ImportOut, responses=ERRORS, tags=["production"])
async def import_work_orders(request: Request, who: Supervisor, orders: Orders) -> Any:
    """Load work orders from a CSV body (header id,line,product,quantity,due); nothing is stored if a row is bad."""
    body = await request.body()
    if len(body) > MAX_CSV_BYTES:
        raise HTTPException(413, f"a CSV of work orders is at most {MAX_CSV_BYTES} bytes")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HTTPException(422, "the CSV is not UTF-8 text") from None
    result = orders.import_csv(text, who.name)
    if result.errors:
        raise HTTPException(422, "; ".join(result.errors[:10]))
    return result


@router.post("/work-orders/{order_id}/start", response_model=WorkOrderOut, responses=ERRORS, tags=["production"])
def start_work_order(
    order_id: Annotated[str, Path(max_length=64)], who: Supervisor, orders: Orders, body: WorkOrderStepIn | None = None,
) -> dict[str, Any]:
    """Start a work order: its line makes its product for it (a running order on the line pauses)."""
    return orders.start(order_id, moment(body.at if body else None, "at"), who.name)


@router.post("/work-orders/{order_id}/complete", response_model=WorkOrderOut, responses=ERRORS, tags=["production"])
def complete_work_order(
    order_id: Annotated[str, Path(max_length=64)], who: Supervisor, orders: Orders, body: WorkOrderStepIn | None = None,
) -> dict[str, Any]:
    """Complete a work order (its line goes on with the product, without the order)."""
    return orders.complete(order_id, moment(body.at if body else None, "at"), who.name)


@router.get("/work-orders", response_model=list[WorkOrderOut], responses=ERRORS, tags=["production"])
def list_work_orders(
    _reader: Reader, orders: Orders,
    line: Annotated[str | None, Query(max_length=64)] = None,
    state: Annotated[str | None, Query(max_length=16, description="planned, started, paused or completed")] = None,
) -> list[dict[str, Any]]:
    """List work orders with their progress (the open ones first)."""
    return orders.list(line, state)


@router.get("/work-orders/{order_id}", response_model=WorkOrderOut, responses=ERRORS, tags=["production"])
def get_work_order(_reader: Reader, order_id: Annotated[str, Path(max_length=64)], orders: Orders) -> dict[str, Any]:
    """Return one work order with its progress."""
    return orders.get(order_id)
