"""The API documentation pages work on a plant network without internet: every asset comes from the app."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.servers import RealServer


def _offline(page: Any) -> list[str]:
    """Refuse every request that leaves 127.0.0.1 and return the list of refused URLs."""
    refused: list[str] = []

    def route(r: Any) -> None:
        if urlsplit(r.request.url).hostname == "127.0.0.1":
            r.continue_()
        else:
            refused.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return refused


def test_docs_page_names_only_local_assets(server: RealServer) -> None:
    html = httpx.get(server.url + "/docs", timeout=10).text
    assets = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", html)
    assert assets, html
    assert [a for a in assets if not a.startswith("/")] == []
    for asset in assets:
        reply = httpx.get(server.url + asset, timeout=10)
        assert reply.status_code == 200, asset
        assert len(reply.content) > 1000 or asset.endswith(".json"), asset


def test_swagger_ui_renders_every_route_without_internet(server: RealServer, page: Any) -> None:
    refused = _offline(page)
    page.goto(server.url + "/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=20_000)
    paths = set(page.locator(".opblock-summary-path").all_inner_texts())
    expected = set(httpx.get(server.url + "/openapi.json", timeout=10).json()["paths"])
    assert {p.replace("\u200b", "") for p in paths} == expected
    assert page.locator(".info .title").inner_text().startswith("Andon")
    assert refused == []
    assert page.js_errors == []


def test_there_is_no_redoc_page(server: RealServer) -> None:
    assert httpx.get(server.url + "/redoc", timeout=10).status_code == 404
