"""Build the FastAPI application around the process's services."""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from andon import __version__
from andon.api import lines
from andon.api.deps import Services

log = logging.getLogger(__name__)


def _page(name: str) -> str:
    return resources.files("andon.web").joinpath(name).read_text(encoding="utf-8")


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


def create_app(services: Services) -> FastAPI:
    """Return the API application serving ``services``."""
    app = FastAPI(
        title="Andon", version=__version__,
        description="Takt against actual, andon calls and problems for the shop floor.",
    )
    app.state.services = services

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _validation_message(exc), "errors": _jsonable(exc.errors())}, 422)

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)

    @app.get("/healthz", tags=["system"])
    def healthz() -> dict[str, Any]:
        """Say the server is up, with the writer's backlog state."""
        writer = services.plant.writer
        return {"status": "ok", "version": __version__, "events_written": writer.written,
                "write_failures": writer.failures}

    @app.get("/metrics", tags=["system"], response_class=Response)
    def metrics() -> Response:
        """Return the Prometheus metrics."""
        return Response(generate_latest(services.plant.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home() -> str:
        """Serve the home page linking to every page and board."""
        return _page("home.html")

    @app.get("/board/{line}", response_class=HTMLResponse, include_in_schema=False)
    def board_page(line: str) -> str:
        """Serve the hour-by-hour board page of a line."""
        if line not in services.plant.lines:
            raise HTTPException(404, f"no line {line!r}")
        return _page("board.html")

    app.include_router(lines.router)
    return app


def _jsonable(errors: Any) -> Any:
    out = []
    for error in errors:
        out.append({k: (v if isinstance(v, str | int | float | list | tuple | type(None)) else str(v))
                    for k, v in error.items() if k != "ctx"})
    return out
