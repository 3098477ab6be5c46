"""Board sign-off: a finished row is signed once, a missed one only after its reason; summaries report the rate."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from andon.clock import ManualClock
from tests.api.api_fixtures import AUTH, api, bearer
from tests.core.engine_fixtures import utc

# One weekday shift 06:00-14:00 UTC with a break 09:00-09:15, takt 60 s: 60 parts an hour; 2026-11-26 is a Thursday.
PLANT = """
plant: {{name: Test Plant, timezone: UTC}}
database: sqlite:///{db}
shifts:
  - {{id: day, start: "06:00", end: "14:00", days: [mon, tue, wed, thu, fri],
     breaks: [{{start: "09:00", end: "10:00"}}]}}
lines:
  - id: line1
    takt_seconds: 60
    sources: [{{type: http, id: http}}]
""" + AUTH.replace("PUBLIC", "true")

SUP = bearer("supervisor")
ROW_06, ROW_07, ROW_08, ROW_09 = (f"2026-11-26T0{h}:00:00+00:00" for h in (6, 7, 8, 9))


def sign(client: TestClient, start: str, **extra: object) -> tuple[int, dict[str, object]]:
    r = client.put("/api/lines/line1/board/signoff", json={"start": start, **extra}, headers=SUP)
    return r.status_code, r.json()


def counts(client: TestClient, n: int, at: str) -> None:
    r = client.post("/api/lines/line1/counts", json={"count": n, "ts": utc(at)}, headers=SUP)
    assert r.status_code == 201, r.text


def rows(client: TestClient) -> dict[str, tuple[object, object, object]]:
    board = client.get("/api/lines/line1/board?date=2026-11-26&shift=day").json()
    return {r["start"]: (r["signed_off_at"], r["signed_off_by"], r["signed_off_person"]) for r in board["rows"]}


def test_a_finished_row_is_signed_once_and_a_missed_one_after_its_reason(tmp_path: Path) -> None:
    clock = ManualClock(utc("2026-11-26 06:30"))
    with api(tmp_path, clock, text=PLANT) as client:
        counts(client, 60, "2026-11-26 06:20")  # the 06:00 row makes its 60
        status, body = sign(client, ROW_06)
        assert (status, body["detail"]) == (
            409, "row 2026-11-26T06:00:00+00:00 of line 'line1' ends at 2026-11-26T07:00:00+00:00: a row is signed "
            "off once it is over",
        )
        clock.set(utc("2026-11-26 07:05"))
        status, body = sign(client, ROW_06, by="badge-17")
        assert (status, body) == (200, {
            "line": "line1", "start": ROW_06, "end": ROW_07, "signed_off_at": "2026-11-26T07:05:00+00:00",
            "signed_off_by": "supervisor-token", "signed_off_person": "badge-17", "delay_seconds": 300.0,
            "already": False,
        })
        # Signing again answers the first sign-off unchanged: its time, its person, its delay.
        clock.set(utc("2026-11-26 07:10"))
        r = client.put("/api/lines/line1/board/signoff", json={"start": ROW_06, "by": "badge-99"},
                       headers=bearer("engineer"))
        assert r.status_code == 200
        assert {k: r.json()[k] for k in ("signed_off_at", "signed_off_by", "signed_off_person", "already")} == {
            "signed_off_at": "2026-11-26T07:05:00+00:00", "signed_off_by": "supervisor-token",
            "signed_off_person": "badge-17", "already": True,
        }
        counts(client, 50, "2026-11-26 07:08")  # the 07:00 row misses by 10
        clock.set(utc("2026-11-26 08:02"))
        status, body = sign(client, ROW_07)
        assert (status, body["detail"]) == (
            409, "row 2026-11-26T07:00:00+00:00 of line 'line1' missed its plan by 10: write its reason first "
            "(PUT /api/lines/{line}/board/reason)",
        )
        assert rows(client)[ROW_07] == (None, None, None)  # the refusal wrote nothing
        r = client.put("/api/lines/line1/board/reason", json={"start": ROW_07, "reason": "no material"}, headers=SUP)
        assert r.status_code == 200
        clock.set(utc("2026-11-26 08:03"))
        status, body = sign(client, ROW_07)  # no "by": the token alone is kept
        assert (status, body["signed_off_person"], body["delay_seconds"], body["already"]) == (200, None, 180.0, False)
        assert rows(client) == {
            ROW_06: ("2026-11-26T07:05:00+00:00", "supervisor-token", "badge-17"),
            ROW_07: ("2026-11-26T08:03:00+00:00", "supervisor-token", None),
            **{f"2026-11-26T{h:02d}:00:00+00:00": (None, None, None) for h in range(8, 14)},
        }
        csv = client.get("/api/lines/line1/board?date=2026-11-26&shift=day&format=csv").text.splitlines()
        assert csv[0].endswith(",oee,signed_off_at,signed_off_by")
        assert csv[1].endswith(",2026-11-26T07:05:00+00:00,supervisor-token")
        assert csv[3].endswith(",,")
    # Sign-offs are stored: a restarted server shows them.
    with api(tmp_path, clock, text=PLANT) as client:
        assert rows(client)[ROW_06] == ("2026-11-26T07:05:00+00:00", "supervisor-token", "badge-17")


def test_bad_sign_offs_are_refused_with_a_clear_error(tmp_path: Path) -> None:
    clock = ManualClock(utc("2026-11-26 12:00"))
    with api(tmp_path, clock, text=PLANT) as client:
        for body, status, detail in [
            ({"start": "2026-11-26T06:30:00+00:00"}, 422,
             "2026-11-26T06:30:00+00:00 is not the start of a board row of line 'line1'"),
            ({"start": "2026-11-26T03:00:00+00:00"}, 422,
             "2026-11-26T03:00:00+00:00 is not the start of a board row of line 'line1'"),
        ]:
            r = client.put("/api/lines/line1/board/signoff", json=body, headers=SUP)
            assert (r.status_code, r.json()["detail"]) == (status, detail)
        for body in [{"start": "yesterday"}, {}, {"start": ROW_06, "by": ""}, {"start": ROW_06, "extra": 1},
                     {"start": ROW_06, "by": "x" * 129}, {"start": 12.5}]:
            r = client.put("/api/lines/line1/board/signoff", json=body, headers=SUP)
            assert r.status_code == 422, (body, r.text)
        r = client.put("/api/lines/nope/board/signoff", json={"start": ROW_06}, headers=SUP)
        assert r.status_code == 404
        r = client.put("/api/lines/line1/board/signoff", json={"start": ROW_06}, headers=bearer("operator"))
        assert r.status_code == 403
        assert rows(client)[ROW_06] == (None, None, None)


def test_summaries_carry_the_sign_off_rate_and_median_delay(tmp_path: Path) -> None:
    clock = ManualClock(utc("2026-11-26 06:00"))
    with api(tmp_path, clock, text=PLANT) as client:
        for hour in (6, 7, 8):  # every row makes its plan: none needs a reason
            clock.set(utc(f"2026-11-26 0{hour}:59"))
            counts(client, 60, f"2026-11-26 0{hour}:30")
            if hour == 6:
                clock.set(utc("2026-11-26 07:04"))
                assert sign(client, ROW_06)[0] == 200  # 240 s after its end
        clock.set(utc("2026-11-26 09:10"))
        assert sign(client, ROW_08)[0] == 200  # 600 s after its end
        assert sign(client, ROW_09)[0] == 409  # the break row is not over yet
        clock.set(utc("2026-11-26 10:30"))
        assert sign(client, ROW_09)[0] == 200  # a row with no available time may be signed; it is not counted
        day = client.get("/api/summary/daily?line=line1&days=2").json()
        # Rows over with available time at 10:30: 06, 07, 08 (the 09:00 row is all break); 06 and 08 signed.
        assert [d["signoff"] for d in day] == [
            {"rows": 0, "signed": 0, "rate": None, "median_delay_seconds": None},
            {"rows": 3, "signed": 2, "rate": 0.6667, "median_delay_seconds": 420.0},
        ]
        week = client.get("/api/summary/weekly?line=line1&weeks=1").json()
        assert week[0]["signoff"] == {"rows": 3, "signed": 2, "rate": 0.6667, "median_delay_seconds": 420.0}
