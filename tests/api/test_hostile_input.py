"""Hostile HTTP input: every bad body, number, text and date is a 4xx with a short answer, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from andon.clock import ManualClock
from tests.api.api_fixtures import api
from tests.core.engine_fixtures import utc

COUNTS = "/api/lines/line1/counts"
HUGE = "1" + "0" * 400
JSON = {"content-type": "application/json"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with api(tmp_path, ManualClock(utc("2026-11-25 07:30"))) as c:
        yield TestClient(c.app, raise_server_exceptions=False)


def actual(client: TestClient) -> int:
    """Return line1's actual to date."""
    return int(client.get("/api/lines/line1/state").json()["actual_to_date"])


@pytest.mark.parametrize(
    ("method", "url", "body", "status", "detail"),
    [
        ("post", COUNTS, b'{"count": NaN}', 422, "body refused (not_finite): NaN is not a number JSON allows"),
        ("post", COUNTS, b'{"count": Infinity}', 422,
         "body refused (not_finite): Infinity is not a number JSON allows"),
        ("post", COUNTS, b'{"count": -Infinity}', 422,
         "body refused (not_finite): -Infinity is not a number JSON allows"),
        ("post", COUNTS, b'{"count": 1e309}', 422,
         "body refused (out_of_range): number '1e309' is beyond a float's range"),
        ("post", COUNTS, b'{"count": ' + HUGE.encode() + b"}", 422,
         "body refused (out_of_range): integer of 401 digits is beyond 64 bits"),
        ("post", COUNTS, b'{"count": 1, "id": "\\ud800"}', 422,
         "body refused (bad_text): string '\\ud800' at id holds a lone UTF-16 surrogate, which is not Unicode text"),
        ("post", COUNTS, b'{"count": 1, "id": "a\\u0000b"}', 422,
         "body refused (bad_text): string 'a\\x00b' at id holds a NUL character"),
        ("post", COUNTS, b'{"count": 1, "\\udfff": 1}', 422,
         "body refused (bad_text): key '\\udfff' at the document holds a lone UTF-16 surrogate"),
        ("post", COUNTS, b'{"count": ' + b"[" * 5000 + b"]" * 5000 + b"}", 422,
         "body refused (too_deep): nested more than 32 levels deep"),
        ("post", COUNTS, b'{"count": true}', 422, "count: Value error, a number is needed here, not true or false"),
        ("post", COUNTS, b'{"count": 1, "ts": false}', 422,
         "ts: Value error, a number is needed here, not true or false"),
        ("post", COUNTS, b'{"count": 1, "id": "tab\\there"}', 422, "id: Value error, must not hold control characters"),
        ("post", COUNTS, b'{"count": 1, "ts": 1e18}', 422,
         "count rejected (bad_time): time 1e+18 is outside 0002-01-01 to 9998-12-31 (what a shift calendar holds)"),
        ("post", COUNTS, b'{"count": 1, "ts": "0001-01-01T00:00:00+05:00"}', 422,
         "count rejected (bad_time): time '0001-01-01T00:00:00+05:00' is outside 0002-01-01 to 9998-12-31"),
        ("post", COUNTS, b"\xff\xfe", 422, "body refused (not_utf8): byte 0 is not UTF-8"),
        ("put", "/api/lines/line1/plan", b'{"date": "2026-11-25", "shift": "early", "takt_seconds": NaN}', 422,
         "body refused (not_finite): NaN is not a number JSON allows"),
        ("put", "/api/lines/line1/plan", b'{"date": "2026-11-25", "shift": "early", "demand_per_shift": true}', 422,
         "demand_per_shift: Value error, a number is needed here, not true or false"),
        ("put", "/api/lines/line1/plan", b'{"date": "9999-12-31", "shift": "early", "takt_seconds": 60}', 422,
         "date: Input should be less than or equal to 9998-12-31"),
        ("put", "/api/lines/line1/board/reason", b'{"start": "1e18", "reason": "jam"}', 422,
         "start '1e18' is not a time (ISO 8601 with offset, or epoch seconds): time '1e18' is outside 0002-01-01"),
        ("put", "/api/lines/line1/board/reason", b'{"start": "2026-11-25T06:00:00+00:00", "reason": "\\ud83d"}',
         422, "body refused (bad_text): string '\\ud83d' at reason holds a lone UTF-16 surrogate"),
        ("put", "/api/lines/line1/board/reason", b'{"start": "2026-11-25T06:00:00+00:00", "reason": "x",'
         b' "problem_id": true}', 422, "problem_id: Value error, a number is needed here, not true or false"),
        ("post", "/api/problems", b'{"title": "\\ud800", "line": "line1"}', 422,
         "body refused (bad_text): string '\\ud800' at title holds a lone UTF-16 surrogate"),
        ("post", "/api/problems", b'{"title": "Jams", "line": "line1", "due_date": "9999-12-31"}', 422,
         "due_date: Input should be less than or equal to 9998-12-31"),
        ("post", "/api/problems", b'{"title": "Jams", "line": "line1", "rows": ["' + b"9" * 300 + b'"]}', 422,
         "rows.0: String should have at most 64 characters"),
        ("post", "/api/problems", b'{"title": "Jams", "line": "line1", "andon_call_ids": [true]}', 422,
         "andon_call_ids.0: Value error, a number is needed here, not true or false"),
        ("post", "/api/andons", b'{"line": "line1", "station": "\\udfff", "category": "quality"}', 422,
         "body refused (bad_text): string '\\udfff' at station holds a lone UTF-16 surrogate"),
        ("post", "/api/andons", b'{"line": "line1", "station": "st1", "category": "quality", "note": "a\\u0000"}',
         422, "body refused (bad_text): string 'a\\x00' at note holds a NUL character"),
        ("get", "/api/lines/line1/board?date=9999-12-31", None, 422,
         "query.date: Input should be less than or equal to 9998-12-31"),
        ("get", "/api/lines/line1/board?date=0001-01-01", None, 422,
         "query.date: Input should be greater than or equal to 0002-01-01"),
        ("get", "/api/andons?line=line1%00", None, 400, "the URL holds a NUL character (%00)"),
        ("get", "/api/problems?owner=%00", None, 400, "the URL holds a NUL character (%00)"),
    ],
)
def test_bad_input_is_a_4xx_saying_why_and_the_next_count_counts(
    client: TestClient, method: str, url: str, body: bytes | None, status: int, detail: str
) -> None:
    reply = client.request(method, url, content=body, headers=JSON if body is not None else None)
    assert reply.status_code == status, reply.text
    assert reply.json()["detail"].startswith(detail), reply.json()["detail"]
    assert len(reply.content) < 1000
    assert client.post(COUNTS, json={"count": 3}).status_code == 201
    assert actual(client) == 3


def test_an_oversized_body_is_413_by_its_length_and_when_streamed(client: TestClient) -> None:
    big = b'{"count": 1, "id": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    reply = client.post(COUNTS, content=big, headers=JSON)
    too_large = {"detail": "the body is larger than 262144 bytes (api.max_body_bytes)"}
    assert (reply.status_code, reply.json()) == (413, too_large)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is counted as it arrives
        for _ in range(40):
            yield b" " * 10_000

    reply = client.post(COUNTS, content=chunks(), headers=JSON)
    assert reply.status_code == 413
    assert client.post(COUNTS, json={"count": 2}).status_code == 201
    assert actual(client) == 2


def test_a_long_bad_value_is_quoted_in_at_most_60_characters(client: TestClient) -> None:
    value = "y" * 200_000  # under the body limit, far over any field
    reply = client.post(COUNTS, json={"count": value})
    assert reply.status_code == 422
    assert len(reply.content) < 600
    errors = reply.json()["errors"]
    assert errors == [{"type": "int_parsing", "loc": ["body", "count"],
                       "msg": "Input should be a valid integer, unable to parse string as an integer",
                       "input": "'" + "y" * 56 + "..."}]
    unknown = client.post(COUNTS, json={"count": 1, "z" * 100_000: 1})
    assert unknown.status_code == 422 and len(unknown.content) < 600
    assert unknown.json()["errors"][0]["loc"] == ["body", "'" + "z" * 36 + "..."]
    many = client.post("/api/problems", json={"title": "x", "line": "line1", "andon_call_ids": ["q" * 500] * 100})
    assert many.status_code == 422 and len(many.content) < 2500
    assert many.json()["detail"].endswith("; and 90 more")
    assert actual(client) == 0


def test_a_boolean_is_never_a_count(client: TestClient) -> None:
    assert client.post(COUNTS, json={"count": True}).status_code == 422
    assert client.post(COUNTS, json={"count": False}).status_code == 422
    assert client.post(COUNTS, json={"count": 1}).status_code == 201
    assert actual(client) == 1


def test_the_last_date_the_calendar_holds_has_a_board(client: TestClient) -> None:
    reply = client.get("/api/lines/line1/board?date=9998-12-31&shift=early")
    assert reply.status_code == 200
    assert (reply.json()["date"], reply.json()["start"]) == ("9998-12-31", "9998-12-31T06:00:00+00:00")
    first = client.get("/api/lines/line1/board?date=0002-01-01&shift=early")
    assert first.status_code in (200, 404), first.text  # 0002-01-01 is a Saturday: no shift, or a board


def test_a_body_that_never_arrives_is_408(tmp_path: Path) -> None:
    import asyncio

    from andon.api.guard import RequestGuard

    async def app(scope: object, receive: object, send: object) -> None:  # pragma: no cover - never reached
        raise AssertionError("the route must not run")

    sent: list[dict[str, object]] = []

    async def never() -> dict[str, object]:
        await asyncio.sleep(3600)
        return {}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    guard = RequestGuard(app, body_timeout=0.05)  # type: ignore[arg-type]
    scope = {"type": "http", "method": "POST", "path": COUNTS, "query_string": b"", "headers": []}
    asyncio.run(guard(scope, never, send))  # type: ignore[arg-type]
    assert sent[0]["status"] == 408
    assert sent[1]["body"] == b'{"detail": "the body did not arrive within 0.05 s"}'


@pytest.mark.parametrize(
    ("content_type", "body", "status", "parts", "detail"),
    [
        # curl -d sends application/x-www-form-urlencoded: a body that is JSON is read as JSON.
        ("application/x-www-form-urlencoded", b'{"count": 3, "id": "c1"}', 201, 3, None),
        ("text/plain", b'{"count": 2, "id": "c2"}', 201, 2, None),
        (None, b'{"count": 4, "id": "c3"}', 201, 4, None),
        ("application/x-www-form-urlencoded", b"count=3", 415,
         0, "this API takes JSON (Content-Type: application/json); the body came as "
            "application/x-www-form-urlencoded and is not JSON (not_json)"),
    ],
)
def test_a_count_without_a_json_content_type(
    client: TestClient, content_type: str | None, body: bytes, status: int, parts: int, detail: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    reply = client.post(COUNTS, content=body, headers=headers)
    assert reply.status_code == status, reply.text
    if detail is not None:
        assert reply.json()["detail"] == detail
    assert actual(client) == parts


def test_a_count_request_refused_before_the_intake_is_counted_and_logged_as_a_rejected_reading(
    client: TestClient, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("WARNING")
    bodies = [{"count": -1}, {"count": "abc"}, {"count": 2_000_000}, {"count": 1, "kind": "x"}, {"count": 1, "ts": [1]},
              {"count": -5}]
    for body in bodies:
        assert client.post(COUNTS, json=body).status_code == 422
    assert client.post(COUNTS, content=b'{"count": NaN}', headers=JSON).status_code == 422
    assert client.post("/api/lines/nowhere/counts", json={"count": -1}).status_code in (404, 422)
    metrics = client.get("/metrics").text
    for reason, n in [("negative", 2), ("not_a_number", 1), ("out_of_range", 1), ("bad_kind", 1), ("bad_time", 1),
                      ("not_finite", 1)]:
        assert f'andon_events_rejected_total{{line="line1",reason="{reason}"}} {n}.0' in metrics
    assert "nowhere" not in metrics
    warnings = [r.getMessage() for r in caplog.records if "reading rejected" in r.getMessage()]
    assert len(warnings) == 6  # one per reason; the second negative one is at DEBUG
    assert any("count request refused: count: Input should be greater than or equal to 0" in w for w in warnings)
    assert client.post(COUNTS, json={"count": 2}).status_code == 201
    assert actual(client) == 2


def test_a_blank_event_id_names_no_event_so_nothing_is_taken_for_a_copy(client: TestClient) -> None:
    for blank in ("", "", "   "):
        assert client.post(COUNTS, json={"count": 1, "id": blank}).json() == {"status": "accepted", "count": 1}
    assert client.post(COUNTS, json={"count": 1, "id": "a"}).status_code == 201
    assert client.post(COUNTS, json={"count": 1, "id": "a"}).json()["status"] == "duplicate"
    assert actual(client) == 4
