"""What the standby server of an active/standby pair answers while the other one is active.

``/healthz`` says ``"role": "standby"`` and which server is active; a page asked for is redirected to the
active server (when it is known and its lease has not run out); everything else is 503 with the active
server's URL in the body and ``Retry-After``, so a client following several servers moves on at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from andon import __version__
from andon.storage.lease import Holder, server_name

_NOT_PAGES = ("/api/", "/ws", "/metrics", "/healthz", "/static/", "/docs", "/openapi")


def standby_app(me: str, holder: Callable[[], Holder | None]) -> Starlette:
    """Return the standby's application; ``me`` its holder id, ``holder`` who holds the lease now (a cached read)."""

    def active() -> dict[str, Any] | None:
        found = holder()
        if found is None or found.id == me or found.seconds_left <= 0:
            return None
        return {"name": found.name, "url": found.url or None}

    name = server_name(me)

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "standby", "role": "standby", "version": __version__, "name": name,
                             "active": active()}, headers={"Access-Control-Allow-Origin": "*"})

    async def other(request: Request) -> Response:
        now = active()
        path = request.url.path
        if now is not None and now["url"] and request.method in ("GET", "HEAD") \
                and not path.startswith(_NOT_PAGES) and path != "/ws":
            query = f"?{request.url.query}" if request.url.query else ""
            return RedirectResponse(now["url"].rstrip("/") + path + query, status_code=307)
        where = f"{now['name']} at {now['url']}" if now and now["url"] else now["name"] if now else "not known yet"
        return JSONResponse({"detail": f"this server ({name}) is the standby; the active server is {where}",
                             "role": "standby", "active": now}, status_code=503, headers={"Retry-After": "1"})

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    return Starlette(routes=[Route("/healthz", healthz, methods=["GET", "HEAD"]),
                             Route("/{path:path}", other, methods=methods)])
