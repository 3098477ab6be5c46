"""Routes for the web pages: static HTML, one shared script and one style sheet from ``andon/web``."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from andon.api.deps import AllServices, get_line
from andon.line import LineRuntime

router = APIRouter(include_in_schema=False)

# Pages change only with a release; browsers revalidate so a new version shows on the next load.
CACHE = {"Cache-Control": "no-cache"}


@lru_cache(maxsize=16)
def page_text(name: str) -> str:
    """Return one file of ``andon/web`` (read once per process)."""
    return resources.files("andon.web").joinpath(name).read_text(encoding="utf-8")


def _html(name: str) -> HTMLResponse:
    return HTMLResponse(page_text(name), headers=CACHE)


@router.get("/", response_class=HTMLResponse)
def home_page() -> HTMLResponse:
    """Serve the home page linking to every page and every line's board."""
    return _html("home.html")


@router.get("/board/{line}", response_class=HTMLResponse)
def board_page(line: Annotated[LineRuntime, Depends(get_line)]) -> HTMLResponse:
    """Serve the hour-by-hour board page of a line (404 for an unknown line)."""
    return _html("board.html")


@router.get("/plant", response_class=HTMLResponse)
def plant_page() -> HTMLResponse:
    """Serve the plant overview: a tile per line."""
    return _html("plant.html")


@router.get("/andon", response_class=HTMLResponse)
def andon_page() -> HTMLResponse:
    """Serve the operator andon panel (line and station in the query string)."""
    return _html("andon.html")


@router.get("/problems", response_class=HTMLResponse)
def problems_page() -> HTMLResponse:
    """Serve the problem log (PDCA)."""
    return _html("problems.html")


@router.get("/trends", response_class=HTMLResponse)
def trends_page() -> HTMLResponse:
    """Serve the trend charts."""
    return _html("trends.html")


@router.get("/tier/1/{line}", response_class=HTMLResponse)
def tier1_page(line: Annotated[LineRuntime, Depends(get_line)]) -> HTMLResponse:
    """Serve a line's tier 1 board: the team's day, its SQDC month, open problems (404 for an unknown line)."""
    return _html("tier.html")


@router.get("/tier/2/{area}", response_class=HTMLResponse)
def tier2_page(area: str, services: AllServices) -> HTMLResponse:
    """Serve an area's tier 2 board: its lines, its SQDC month, their open problems (404 for an unknown area)."""
    services.sqdc.scope(area)  # 404 for an area not in the config, as GET /api/sqdc answers it
    return _html("tier.html")


@router.get("/tier/3", response_class=HTMLResponse)
def tier3_page() -> HTMLResponse:
    """Serve the plant's tier 3 board: each area's SQDC today and the plant's month."""
    return _html("tier.html")


@router.get("/static/app.js")
def app_script() -> Response:
    """Serve the script shared by the pages."""
    return Response(page_text("app.js"), media_type="text/javascript; charset=utf-8", headers=CACHE)


@router.get("/static/app.css")
def app_style() -> Response:
    """Serve the style sheet shared by the pages."""
    return Response(page_text("app.css"), media_type="text/css; charset=utf-8", headers=CACHE)
