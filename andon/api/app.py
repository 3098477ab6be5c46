"""Build the FastAPI application around the process's services."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy.exc import SQLAlchemyError

from andon import __version__
from andon.andons import AndonService
from andon.api import (
    andons,
    enterprise,
    handover,
    lines,
    pages,
    problems,
    production,
    reasons,
    stops,
    stream,
    summaries,
)
from andon.api.guard import RequestGuard
from andon.api.security import Reader
from andon.errors import ServiceError
from andon.line import HTTP_SOURCE
from andon.payload import excerpt
from andon.services import Services

log = logging.getLogger(__name__)


MAX_ERRORS_SHOWN = 10  # a body with hundreds of bad items gets the first ten and a count
MAX_INPUTS_QUOTED = 3  # each quoted in at most 60 characters: no answer echoes more than 180 of input
MAX_DETAIL = 500


def _where(error: dict[str, Any]) -> str:
    return ".".join(excerpt(p, 40) if isinstance(p, str) and len(p) > 40 else str(p)
                    for p in error.get("loc", ()) if p != "body") or "body"


def _validation_message(errors: list[dict[str, Any]]) -> str:
    parts = [f"{_where(e)}: {str(e.get('msg', 'invalid'))[:200]}" for e in errors[:MAX_ERRORS_SHOWN]]
    if len(errors) > MAX_ERRORS_SHOWN:
        parts.append(f"and {len(errors) - MAX_ERRORS_SHOWN} more")
    return "; ".join(parts)


COUNTS_PATH = re.compile(r"/api/lines/([^/]+)/counts")


def count_refusal(errors: list[dict[str, Any]]) -> str:
    """Return the reject reason of a count request that failed validation, in the intake's vocabulary."""
    for error in errors:
        loc = tuple(error.get("loc") or ())
        field = loc[1] if len(loc) > 1 and loc[0] == "body" else None  # ("body", "ts", "float"): the field
        kind = str(error.get("type", ""))
        if field == "count":
            return {"greater_than_equal": "negative", "less_than_equal": "out_of_range"}.get(kind, "not_a_number")
        if field in ("ts", "kind", "id", "reason", "source"):
            return f"bad_{field}" if field != "ts" else "bad_time"
    return "bad_request"


def _shown_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the validation errors as JSON-safe dicts, quoting at most a short excerpt of the input."""
    shown = []
    for index, error in enumerate(errors[:MAX_ERRORS_SHOWN]):
        item: dict[str, Any] = {
            "type": str(error.get("type", "")),
            "loc": [p if isinstance(p, int) else excerpt(p, 40) if len(str(p)) > 40 else str(p)
                    for p in error.get("loc", ())],
            "msg": str(error.get("msg", ""))[:200],
        }
        if index < MAX_INPUTS_QUOTED and "input" in error:
            item["input"] = excerpt(error["input"], 60)
        shown.append(item)
    return shown


def _short(detail: Any) -> Any:
    """Cap an error's detail text, so no answer repeats a long input."""
    if isinstance(detail, str) and len(detail) > MAX_DETAIL:
        return detail[: MAX_DETAIL - 3] + "..."
    return detail


def create_app(services: Services, tick_seconds: float = 1.0) -> FastAPI:
    """Return the API application serving ``services``; its lifespan runs the live hub and escalation."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        services.hub.start(loop)
        if services.webhooks is not None:
            services.webhooks.start(loop)
        if services.notifier.enabled:
            services.notifier.start(loop)
        tasks = [asyncio.create_task(services.hub.tick(tick_seconds), name="live tick"),
                 asyncio.create_task(_escalate_forever(services.andons, tick_seconds), name="escalation")]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if services.webhooks is not None:
                await services.webhooks.stop()
            await services.notifier.stop()
            services.hub.stop()

    # /docs (Swagger UI) loads its script and style from a package, not a CDN: a plant network often
    # has no internet. No /redoc: ReDoc fetches its logo from the internet.
    app = FastAPIOffline(
        title="Andon", version=__version__, lifespan=lifespan, static_url="/static/api-docs", redoc_url=None,
        description="Takt against actual, andon calls and problems for the shop floor.",
    )
    app.state.services = services
    registry = services.plant.metrics.registry
    latency = services.metrics.latency

    @app.middleware("http")
    async def _timed(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        latency.labels(request.method, getattr(route, "path", "other")).observe(time.perf_counter() - start)
        return response

    def refused_count(scope: MutableMapping[str, Any], reason: str, message: str) -> None:
        """Count and log a count request refused before the intake (bad body, failed validation) as a rejected
        reading of its line, like every other; other requests pass by."""
        found = COUNTS_PATH.fullmatch(scope.get("path", ""))
        if scope.get("method") == "POST" and found is not None and found.group(1) in services.plant.lines:
            services.plant.refuse(found.group(1), HTTP_SOURCE, reason, f"count request refused: {message}")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        message = _validation_message(errors)
        refused_count(request.scope, count_refusal(errors), message)
        return JSONResponse({"detail": message, "errors": _shown_errors(errors)}, 422)

    @app.exception_handler(ServiceError)
    async def _refused(_request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse({"detail": _short(str(exc))}, exc.status)

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"detail": _short(exc.detail)}, exc.status_code, headers=exc.headers)

    @app.exception_handler(SQLAlchemyError)
    async def _storage(_request: Request, exc: SQLAlchemyError) -> JSONResponse:
        # The database refused or could not take a write: the request is not recorded; say so, briefly.
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
        log.error("storage error answering a request: %s", reason)
        return JSONResponse({"detail": f"storage cannot write: {reason}; nothing was recorded"}, 503)

    @app.get("/healthz", tags=["system"], responses={503: {"description": "Storage cannot write."}})
    def healthz() -> JSONResponse:
        """Say whether the server can record facts: 200 ok, or 503 with the reason storage cannot write.

        ``role`` is ``active``: this server records (a standby of an active/standby pair answers ``standby``).
        """
        writer = services.plant.writer
        body: dict[str, Any] = {
            "status": "ok", "role": "active", "version": __version__, "events_written": writer.written,
            "events_unwritten": writer.unwritten, "events_refused": writer.refused,
            "write_failures": writer.failures,
        }
        # Readable from another server's pages: a page of an active/standby pair asks which one is active.
        cors = {"Access-Control-Allow-Origin": "*"}
        if writer.fault is not None:
            body.update(status="storage_down", reason=f"storage cannot write: {writer.fault}")
            return JSONResponse(body, 503, headers=cors)
        return JSONResponse(body, headers=cors)

    @app.get("/metrics", tags=["system"], response_class=Response)
    def metrics(_reader: Reader) -> Response:
        """Return the Prometheus metrics (a token when reads are not public)."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    api = services.config.api
    app.add_middleware(RequestGuard, max_body_bytes=api.max_body_bytes, body_timeout=api.header_timeout_seconds,
                       on_bad_body=refused_count)
    app.include_router(lines.router)
    app.include_router(andons.router)
    app.include_router(problems.router)
    app.include_router(reasons.router)
    app.include_router(handover.router)
    app.include_router(enterprise.router)
    app.include_router(stops.router)
    app.include_router(production.router)
    app.include_router(summaries.router)
    app.include_router(stream.router)
    app.include_router(pages.router)
    return app


async def _escalate_forever(service: AndonService, period: float) -> None:
    failing = False
    while True:
        try:
            await asyncio.to_thread(service.escalate)
        except SQLAlchemyError as exc:  # storage is down: /healthz says so; say it here once
            if not failing:
                log.error("escalation cannot be recorded: %s", str(getattr(exc, "orig", exc)).splitlines()[0])
            failing = True
        except Exception:
            log.exception("escalation check failed")
        else:
            failing = False
        await asyncio.sleep(period)

