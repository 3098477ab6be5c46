"""Routes for the trend view's daily and weekly summaries."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from andon.api.andons import ERRORS
from andon.api.deps import Line, get_summaries
from andon.api.schemas import SummaryOut
from andon.api.security import Reader
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
