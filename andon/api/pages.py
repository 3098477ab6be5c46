"""Routes for the web pages: HTML from ``andon/web`` in the device's language, one shared script and one style
sheet.

A page's words are ``{{key}}`` marks in its HTML, filled here from the message catalogs (HTML-escaped), and
the texts its scripts build with (``Andon.t(key)``: the ``app.`` keys and the page's own) go with it as JSON.
The language is the device's: ``?lang=`` (kept in a cookie, so the device's next pages keep it), else the
cookie, else ``plant.language``.
"""

from __future__ import annotations

import html
import json
import re
from functools import lru_cache
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from andon import i18n
from andon.api.deps import AllServices, get_line
from andon.line import LineRuntime

router = APIRouter(include_in_schema=False)

# Pages change only with a release; browsers revalidate so a new version shows on the next load.
CACHE = {"Cache-Control": "no-cache"}
PAGE_CACHE = {**CACHE, "Vary": "Cookie"}  # a page's words follow the device's language cookie
LANGUAGE_COOKIE = "andon_lang"
_MARK = re.compile(r"\{\{([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+)\}\}")
_HTML_LANG = '<html lang="en">'
_SHARED_SCRIPT = '<script src="/static/app.js"></script>'


@lru_cache(maxsize=16)
def page_text(name: str) -> str:
    """Return one file of ``andon/web`` as written (read once per process)."""
    return resources.files("andon.web").joinpath(name).read_text(encoding="utf-8")


@lru_cache(maxsize=64)
def page_in(name: str, language: str, servers: tuple[str, ...] = ()) -> str:
    """Return a page with its words in ``language`` and its scripts' texts beside it (made once per language);
    ``servers``: the URLs of an active/standby pair, which the page moves between (``availability.servers``).

    Raise KeyError for a mark no catalog has (the tests read every page in every language).
    """
    texts = i18n.messages(language)
    filled = _MARK.sub(lambda m: html.escape(texts[m.group(1)]), page_text(name))
    script_texts = i18n.part(language, "app.", name.removesuffix(".html") + ".")
    encoded = json.dumps({"lang": language, "texts": script_texts, "servers": list(servers)}, ensure_ascii=False,
                         separators=(",", ":"))
    encoded = encoded.replace("</", "<\\/")  # no "</script>" inside the script
    return filled.replace(_HTML_LANG, f'<html lang="{language}">', 1).replace(
        _SHARED_SCRIPT, f"<script>window.ANDON_I18N={encoded};</script>{_SHARED_SCRIPT}", 1)


def page_language(request: Request, lang: str | None) -> str:
    """Return the language a device asked for (``?lang=``, else its cookie), else the plant's.

    A ``?lang=`` with no catalog is the engineer's typo on a kiosk's URL: 400 with the languages there are.
    A cookie with none (a catalog gone with a release) is passed over.
    """
    if lang:  # (an empty ?lang= is no choice: the cookie's or the plant's)
        found = i18n.match(lang)
        if found is None:
            raise HTTPException(400, str(i18n.UnknownLanguage(lang)))
        return found
    plant_language = request.app.state.services.plant.config.plant.language
    return i18n.choose(request.cookies.get(LANGUAGE_COOKIE), plant_language)


LineDep = Annotated[LineRuntime, Depends(get_line)]
LangQuery = Annotated[
    str | None, Query(max_length=35, description="Language of the page (en, de, es, pl, zh-Hans); the device keeps it.")
]


def _html(name: str, request: Request, lang: str | None) -> HTMLResponse:
    language = page_language(request, lang)
    servers = tuple(request.app.state.services.plant.config.availability.servers)
    reply = HTMLResponse(page_in(name, language, servers), headers=PAGE_CACHE)
    if lang and request.cookies.get(LANGUAGE_COOKIE) != language:
        reply.set_cookie(LANGUAGE_COOKIE, language, max_age=10 * 365 * 86400, samesite="lax")
    return reply


@router.get("/", response_class=HTMLResponse)
def home_page(request: Request, lang: LangQuery = None) -> HTMLResponse:
    """Serve the home page linking to every page and every line's board."""
    return _html("home.html", request, lang)


@router.get("/board/{line}", response_class=HTMLResponse)
def board_page(line: LineDep, request: Request, lang: LangQuery = None) -> HTMLResponse:
    """Serve the hour-by-hour board page of a line (404 for an unknown line)."""
    return _html("board.html", request, lang)


@router.get("/plant", response_class=HTMLResponse)
def plant_page(request: Request, lang: LangQuery = None) -> HTMLResponse:
    """Serve the plant overview: a tile per line."""
    return _html("plant.html", request, lang)


@router.get("/andon", response_class=HTMLResponse)
def andon_page(request: Request, lang: LangQuery = None) -> HTMLResponse:
    """Serve the operator andon panel (line and station in the query string)."""
    return _html("andon.html", request, lang)


@router.get("/problems", response_class=HTMLResponse)
def problems_page(request: Request, lang: LangQuery = None) -> HTMLResponse:
    """Serve the problem log (PDCA)."""
    return _html("problems.html", request, lang)


@router.get("/trends", response_class=HTMLResponse)
def trends_page(request: Request, lang: LangQuery = None) -> HTMLResponse:
    """Serve the trend charts."""
    return _html("trends.html", request, lang)


@router.get("/tier/1/{line}", response_class=HTMLResponse)
def tier1_page(line: LineDep, request: Request, lang: LangQuery = None) -> HTMLResponse:
    """Serve a line's tier 1 board: the team's day, its SQDC month, open problems (404 for an unknown line)."""
    return _html("tier.html", request, lang)


@router.get("/tier/2/{area}", response_class=HTMLResponse)
def tier2_page(area: str, services: AllServices, request: Request, lang: LangQuery = None) -> HTMLResponse:
    """Serve an area's tier 2 board: its lines, its SQDC month, their open problems (404 for an unknown area)."""
    services.sqdc.scope(area)  # 404 for an area not in the config, as GET /api/sqdc answers it
    return _html("tier.html", request, lang)


@router.get("/tier/3", response_class=HTMLResponse)
def tier3_page(request: Request, lang: LangQuery = None) -> HTMLResponse:
    """Serve the plant's tier 3 board: each area's SQDC today and the plant's month."""
    return _html("tier.html", request, lang)


@router.get("/static/app.js")
def app_script() -> Response:
    """Serve the script shared by the pages."""
    return Response(page_text("app.js"), media_type="text/javascript; charset=utf-8", headers=CACHE)


@router.get("/static/app.css")
def app_style() -> Response:
    """Serve the style sheet shared by the pages."""
    return Response(page_text("app.css"), media_type="text/css; charset=utf-8", headers=CACHE)
