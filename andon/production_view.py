"""What the live state says of production: the product being made, the work order's progress, a changeover.

Each as the state document holds it: plain JSON values with the fields of ``ProductView``, ``WorkOrderView`` and
``ChangeoverView`` in their order (the API validates the document into those models).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from andon.runs import Run
from andon.times import iso

if TYPE_CHECKING:
    from andon.line import LineRuntime


def _iso(t: float | None) -> str | None:
    return None if t is None or math.isinf(t) else iso(t)


def _float(x: float | None) -> float | None:
    return None if x is None else float(x)


def production_views(line: LineRuntime, now: float) -> dict[str, Any]:
    """Return the state's product, work_order, changeover and scheduled fields at ``now`` (under the line lock)."""
    timeline = line.timeline
    scheduled = not timeline.not_scheduled(now, now + 1e-6)
    if not timeline.has_products:
        return {"product": None, "work_order": None, "changeover": None, "scheduled": scheduled}
    run = timeline.run_at(now)
    product_id = run.product if run is not None else timeline.product_at(now)
    product = None
    if product_id is not None:
        figures = timeline.figures.get(product_id)
        instance = line.calendar.at(now)
        product = {
            "id": product_id, "name": figures.name if figures is not None else product_id,
            "since": _iso(run.start) if run is not None else None,
            "takt_seconds": _float(line.plan_for(instance).takt_seconds_at(now) if instance is not None else (
                figures.takt_seconds if figures is not None else None)),
            "ideal_cycle_seconds": _float(figures.ideal_cycle_seconds if figures is not None else None),
        }
    return {
        "product": product,
        "work_order": work_order_view(line, run, now) if run is not None and run.work_order else None,
        "changeover": changeover_view(line, now),
        "scheduled": scheduled,
    }


def changeover_view(line: LineRuntime, now: float) -> dict[str, Any] | None:
    """Describe the changeover going on at ``now``, if any."""
    found = line.timeline.open_changeover(now)
    if found is None:
        return None
    run, split = found
    return {
        "from_product": run.previous, "to_product": run.product, "started_at": _iso(run.start) or "",
        "target_seconds": float(run.changeover_seconds or 0.0), "target_end": _iso(split.target_end),
        "overrun": split.target_end is not None and now >= split.target_end,
    }


def work_order_view(line: LineRuntime, run: Run, now: float) -> dict[str, Any]:
    """Describe the work order of the current run: made, remaining and the expected finish at its rate."""
    timeline = line.timeline
    order_id = run.work_order or ""
    order = timeline.orders.get(order_id)
    made = timeline.made.get(order_id, 0)
    if order is None:
        return {"id": order_id, "product": run.product, "quantity": None, "made": made, "remaining": None,
                "expected_finish": None, "due": None, "state": "started"}
    remaining = max(0, order.quantity - made)
    return {
        "id": order.id, "product": order.product, "quantity": order.quantity, "made": made, "remaining": remaining,
        "expected_finish": _iso(expected_finish(line, order_id, made, remaining, now)), "due": _iso(order.due),
        "state": order.state,
    }


def order_seconds(line: LineRuntime, order_id: str, now: float) -> float:
    """Return the available seconds the order's runs have had up to ``now`` (breaks, changeovers... removed)."""
    total = 0.0
    for run in line.timeline.order_runs(order_id):
        t0, t1 = run.start, min(run.until, now)
        if t1 <= t0:
            continue
        for instance in line.timeline.instances_from(t0):
            if instance.start >= t1:
                break
            total += line.plan_for(instance).available_between(max(t0, instance.start), min(t1, instance.end))
    return total


def expected_finish(line: LineRuntime, order_id: str, made: int, remaining: int, now: float) -> float | None:
    """Return when ``remaining`` parts are made at the order's rate so far, in available time ahead (to the minute)."""
    if remaining == 0:
        return None
    seconds = order_seconds(line, order_id, now)
    if made <= 0 or seconds <= 0:
        return None
    needed = remaining * seconds / made
    for a, b in line.timeline.available_pieces(now):
        if b - a >= needed:
            return math.ceil((a + needed) / 60) * 60
        needed -= b - a
    return None
