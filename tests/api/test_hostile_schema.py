"""Schemathesis over the whole OpenAPI surface, with hostile values put into its generated requests.

Schemathesis generates a request for an operation (valid, or invalid in the negative mode); the test
then puts one hostile value — NaN, ±Infinity, 1e309, a 400-digit integer, a lone surrogate, NUL, a
boolean for a number, deep nesting, a date past the calendar, an oversized text — into one field of
its JSON body or one query parameter, sends the raw bytes, and asserts a 4xx or 2xx, never a 5xx,
and an answer that does not echo the input back whole.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from andon.api.app import create_app
from andon.clock import ManualClock
from andon.services import services_for
from tests.api.api_fixtures import config_text
from tests.core.engine_fixtures import utc
from tests.core.plant_fixtures import make_config, make_plant

MARK = "__hostile__"
# The raw JSON text of each hostile value (json.dumps cannot write most of them).
BODY_VALUES = {
    "nan": "NaN", "inf": "Infinity", "-inf": "-Infinity", "1e309": "1e309", "huge": "1" + "0" * 400,
    "surrogate": '"\\ud800"', "nul": '"a\\u0000b"', "true": "true", "false": "false",
    "deep": "[" * 40 + "]" * 40, "far date": '"9999-12-31"', "early date": '"0001-01-01"',
    "far time": "1e18", "oversized": '"' + "x" * 300_000 + '"', "long": '"' + "y" * 100_000 + '"',
}
QUERY_VALUES = ["NaN", "Infinity", "1e309", "1" + "0" * 400, "true", "9999-12-31", "0001-01-01", "\x00", "z" * 5000]
FALLBACK_KEYS = ["count", "ts", "id", "date", "takt_seconds", "demand_per_shift", "title", "start", "station"]


@pytest.fixture(scope="module")
def app() -> Iterator[Any]:
    with tempfile.TemporaryDirectory() as folder:
        clock = ManualClock(utc("2026-11-25 07:30"))
        config = make_config(Path(folder), config_text())
        plant = make_plant(config, clock)
        yield create_app(services_for(plant))
        plant.close()
        plant.store.engine.dispose()


@pytest.fixture(scope="module")
def cases(app: Any) -> st.SearchStrategy[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return st.one_of(schema.as_strategy(), schema.as_strategy(generation_mode=GenerationMode.NEGATIVE))


@pytest.fixture(scope="module")
def client(app: Any) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


def url_of(case: Any) -> str:
    """Return the case's path with its path parameters filled in, quoted."""
    params = {k: quote(str(v), safe="") for k, v in (case.path_parameters or {}).items()}
    return str(case.operation.path.format(**params))


@given(data=st.data())
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_hostile_values_anywhere_never_make_a_server_error(
    client: TestClient, cases: st.SearchStrategy[Any], data: st.DataObject
) -> None:
    case = data.draw(cases)
    method = case.method.upper()
    query = {k: v for k, v in (case.query or {}).items() if isinstance(v, str | int | float)}
    content: bytes | None = None
    hostile = "none"
    if method in ("POST", "PUT", "PATCH"):
        body = case.body if isinstance(case.body, dict) else {}
        key = data.draw(st.sampled_from(sorted(body) or FALLBACK_KEYS), label="key")
        hostile = data.draw(st.sampled_from(sorted(BODY_VALUES)), label="value")
        text = json.dumps({**body, key: MARK}, default=str).replace(f'"{MARK}"', BODY_VALUES[hostile])
        content = text.encode("utf-8", "surrogatepass")
    elif query or case.operation.query:
        names = sorted(query) or [p.name for p in case.operation.query]
        name = data.draw(st.sampled_from(names), label="query")
        query[name] = data.draw(st.sampled_from(QUERY_VALUES), label="query value")
    reply = client.request(method, url_of(case), params=query, content=content,
                           headers={"content-type": "application/json"} if content is not None else None)
    assert reply.status_code < 500, (method, url_of(case), hostile, reply.text[:300])
    if hostile == "oversized":
        assert reply.status_code == 413
    if reply.status_code >= 400:
        assert len(reply.content) < 3000, (method, url_of(case), hostile, len(reply.content))
