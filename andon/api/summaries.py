"""Routes for the trend view's daily and weekly summaries, and the SQDC board."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query

from andon.api.andons import ERRORS
from andon.api.deps import AllServices, Line, get_line, get_summaries
from andon.api.schemas import AreaOut, SqdcOut, SummaryOut
from andon.api.security import Reader
from andon.counting import FIRST_DATE, LAST_DATE
from andon.summary import Summaries

router = APIRouter(prefix="/api")


@router.get("/summary/daily", response_model=list[SummaryOut], responses=ERRORS, tags=["trends"])
def summary_daily(
    _reader: Reader,
    line: Line,
    summaries: Annotated[Summaries, Depends(get_summaries)],
    days: Annotated[int, Query(ge=1, le=92)] = 14,
) -> list[dict[str, Any]]:
    """Plan attainment, downtime and andon response per day."""
    return summaries.daily(line.id, days)


@router.get("/summary/weekly", response_model=list[SummaryOut], responses=ERRORS, tags=["trends"])
def summary_weekly(
    _reader: Reader,
    line: Line,
    summaries: Annotated[Summaries, Depends(get_summaries)],
    weeks: Annotated[int, Query(ge=1, le=53)] = 8,
) -> list[dict[str, Any]]:
    """Plan attainment, downtime and andon response per ISO week."""
    return summaries.weekly(line.id, weeks)


@router.get("/sqdc", response_model=SqdcOut, responses=ERRORS, tags=["trends"])
def get_sqdc(
    _reader: Reader,
    services: AllServices,
    area: Annotated[str | None, Query(description="Area id (absent: the whole plant).", max_length=64)] = None,
    line: Annotated[str | None, Query(description="One line instead of an area (a tier 1 board).",
                                      max_length=64)] = None,
    month: Annotated[str | None, Query(description="YYYY-MM (default: this month, plant time).",
                                       pattern=r"^[0-9]{4}-[0-9]{2}$")] = None,
) -> dict[str, Any]:
    """Safety, Quality, Delivery and Cost of each day of a month: green, red or none, with the facts of each red."""
    if area is not None and line is not None:
        raise HTTPException(422, "give area or line, not both")
    if line is not None:
        get_line(line, services.plant)  # 404 for a line not in the config
    if month is None:
        today = services.sqdc.today()
        year, number = today.year, today.month
    else:
        year, number = int(month[:4]), int(month[5:])
        if not 1 <= number <= 12 or not FIRST_DATE.year <= year <= LAST_DATE.year:
            raise HTTPException(422, f"month {month} is not a month between {FIRST_DATE.year} and {LAST_DATE.year}")
    return services.sqdc.month(area, year, number, line)


@router.get("/areas", response_model=list[AreaOut], tags=["trends"])
def get_areas(_reader: Reader, services: AllServices) -> list[dict[str, Any]]:
    """The plant's areas (plant -> area -> line), as configured."""
    return [{"id": a.id, "name": a.name or a.id, "leader": a.leader, "lines": a.lines} for a in services.config.areas]
