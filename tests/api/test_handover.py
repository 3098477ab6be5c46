"""Shift handover: the shift's results, top losses, open calls, open and overdue problems and notes; the incoming
leader acknowledges it once."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from andon.clock import ManualClock
from tests.api.api_fixtures import AUTH, api, bearer
from tests.core.engine_fixtures import utc

# Two weekday shifts, UTC, takt 60 s (60 parts an hour); 2026-11-26 is a Thursday.
PLANT = """
plant: {{name: Test Plant, timezone: UTC}}
database: sqlite:///{db}
shifts:
  - {{id: early, start: "06:00", end: "14:00", days: [mon, tue, wed, thu, fri]}}
  - {{id: late, start: "14:00", end: "22:00", days: [mon, tue, wed, thu, fri]}}
lines:
  - id: line1
    name: Assembly 1
    takt_seconds: 60
    sources: [{{type: http, id: http}}]
    andon:
      categories: [quality, material]
      escalation: [{{tier: team_leader, after_seconds: 0}}]
""" + AUTH.replace("PUBLIC", "true")

SUP = bearer("supervisor")


def run(client: TestClient, clock: ManualClock, start: str, end: str) -> None:
    """Count one part a minute from ``start`` up to (not including) ``end``, the clock moving with them."""
    t = utc(start)
    while t < utc(end):
        clock.set(t)
        r = client.post("/api/lines/line1/counts", json={"count": 1, "ts": t}, headers=SUP)
        assert r.status_code == 201, r.text
        t += 60


def a_shift_with_losses(client: TestClient, clock: ManualClock) -> None:
    """06:00-07:30 and 08:00-09:00 a part a minute, then 09:20-10:00: stops 07:29-08:00 (jam) and 08:59-09:20."""
    run(client, clock, "2026-11-26 06:00", "2026-11-26 07:30")
    run(client, clock, "2026-11-26 08:00", "2026-11-26 09:00")
    run(client, clock, "2026-11-26 09:20", "2026-11-26 10:00")
    stops = client.get("/api/lines/line1/stops").json()
    assert [(s["start"], s["end"], s["seconds"]) for s in stops] == [
        ("2026-11-26T07:29:00+00:00", "2026-11-26T08:00:00+00:00", 1860.0),
        ("2026-11-26T08:59:00+00:00", "2026-11-26T09:20:00+00:00", 1260.0),
    ]
    r = client.put(f"/api/lines/line1/stops/{stops[0]['id']}/reason", json={"reason": "jam"}, headers=SUP)
    assert r.status_code == 200, r.text


def test_the_handover_of_a_running_shift_says_what_the_next_leader_must_know(tmp_path: Path) -> None:
    clock = ManualClock(utc("2026-11-26 06:00"))
    with api(tmp_path, clock, text=PLANT) as client:
        a_shift_with_losses(client, clock)
        clock.set(utc("2026-11-26 10:00"))
        reason = {"start": "2026-11-26T07:00:00+00:00", "reason": "jam at st2"}
        assert client.put("/api/lines/line1/board/reason", json=reason, headers=SUP).status_code == 200
        assert client.put("/api/lines/line1/board/signoff", json={"start": "2026-11-26T06:00:00+00:00"},
                          headers=SUP).status_code == 200
        call = client.post("/api/andons", json={"line": "line1", "station": "st3", "category": "quality"},
                           headers=SUP).json()
        done = client.post("/api/andons", json={"line": "line1", "station": "st1", "category": "material"},
                           headers=SUP).json()
        assert client.post(f"/api/andons/{done['id']}/resolve", headers=SUP).status_code == 200
        late = client.post("/api/problems", json={"title": "Loose fixture", "line": "line1", "owner": "Sam",
                                                  "due_date": "2026-11-25"}, headers=SUP).json()
        fresh = client.post("/api/problems", json={"title": "Jams at st2", "line": "line1"}, headers=SUP).json()
        closed = client.post("/api/problems", json={"title": "Old", "line": "line1"}, headers=SUP).json()
        assert client.patch(f"/api/problems/{closed['id']}", json={"status": "closed"}, headers=SUP).status_code == 200
        r = client.post("/api/lines/line1/handover/notes", json={"text": "  Fixture 3 is loose  ", "by": "badge-7"},
                        headers=SUP)
        assert (r.status_code, r.json()) == (201, {
            "id": 1, "text": "Fixture 3 is loose", "by": "supervisor-token", "person": "badge-7",
            "at": "2026-11-26T10:00:00+00:00",
        })
        clock.set(utc("2026-11-26 10:00") + 30)
        assert client.post("/api/lines/line1/handover/notes", json={"text": "Material for B arrives at 13:00"},
                           headers=SUP).status_code == 201
        handover = client.get("/api/lines/line1/handover").json()
        assert {k: handover[k] for k in ("line", "name", "date", "shift", "start", "end", "at", "over")} == {
            "line": "line1", "name": "Assembly 1", "date": "2026-11-26", "shift": "early",
            "start": "2026-11-26T06:00:00+00:00", "end": "2026-11-26T14:00:00+00:00",
            "at": "2026-11-26T10:00:30+00:00", "over": False,
        }
        # Rows 06 (60), 07 (30: missed, reason written), 08 (60), 09 (40: missed, no reason) are over; 10 runs.
        assert handover["results"] == {
            "shift_target": 480, "planned": 240, "actual": 190, "delta": -50, "scrap": 0, "attainment": 0.7917,
            "rows_finished": 4, "rows_missed": 2, "rows_missed_without_reason": 1, "rows_signed_off": 1,
            "oee": None,
        }
        assert handover["top_losses"] == [
            {"reason": "jam", "reason_name": "Jam", "category": "breakdown", "stops": 1, "minutes": 31.0},
            {"reason": None, "reason_name": None, "category": None, "stops": 1, "minutes": 21.0},
        ]
        assert [(c["id"], c["station"], c["state"]) for c in handover["open_andons"]] == [(call["id"], "st3", "raised")]
        assert handover["problems"] == {
            "open": [
                {"id": fresh["id"], "title": "Jams at st2", "status": "open", "owner": "", "due_date": None,
                 "overdue": False},
                {"id": late["id"], "title": "Loose fixture", "status": "open", "owner": "Sam",
                 "due_date": "2026-11-25", "overdue": True},
            ],
            "overdue": [{"id": late["id"], "title": "Loose fixture", "status": "open", "owner": "Sam",
                         "due_date": "2026-11-25", "overdue": True}],
        }
        assert handover["notes"] == [
            {"id": 1, "text": "Fixture 3 is loose", "by": "supervisor-token", "person": "badge-7",
             "at": "2026-11-26T10:00:00+00:00"},
            {"id": 2, "text": "Material for B arrives at 13:00", "by": "supervisor-token", "person": None,
             "at": "2026-11-26T10:00:30+00:00"},
        ]
        assert handover["acknowledgement"] is None

        # The late shift's leader takes over: the default is the latest shift that is over, the early one.
        clock.set(utc("2026-11-26 14:05"))
        r = client.post("/api/lines/line1/handover/acknowledge", json={"by": "badge-9"}, headers=SUP)
        assert (r.status_code, r.json()) == (200, {
            "line": "line1", "date": "2026-11-26", "shift": "early", "by": "supervisor-token", "person": "badge-9",
            "at": "2026-11-26T14:05:00+00:00", "already": False,
        })
        clock.set(utc("2026-11-26 14:10"))
        again = client.post("/api/lines/line1/handover/acknowledge", json={"date": "2026-11-26", "shift": "early"},
                            headers=bearer("engineer")).json()
        assert (again["by"], again["person"], again["at"], again["already"]) == (
            "supervisor-token", "badge-9", "2026-11-26T14:05:00+00:00", True)
        over = client.get("/api/lines/line1/handover?date=2026-11-26&shift=early").json()
        assert over["over"] is True
        assert {k: over["results"][k] for k in ("planned", "actual", "delta", "rows_finished", "rows_missed")} == {
            "planned": 480, "actual": 190, "delta": -290, "rows_finished": 8, "rows_missed": 6,  # 07, 09 and 10-13
        }
        assert over["acknowledgement"] == {"by": "supervisor-token", "person": "badge-9",
                                           "at": "2026-11-26T14:05:00+00:00"}
        # The late shift has its own, empty handover: notes and acknowledgements belong to one shift.
        now = client.get("/api/lines/line1/handover").json()
        assert (now["shift"], now["notes"], now["acknowledgement"]) == ("late", [], None)
    # Stored: a restarted server shows the notes and the acknowledgement.
    with api(tmp_path, clock, text=PLANT) as client:
        kept = client.get("/api/lines/line1/handover?date=2026-11-26&shift=early").json()
        assert ([n["id"] for n in kept["notes"]], kept["acknowledgement"]["person"]) == ([1, 2], "badge-9")


def test_bad_handover_requests_get_clear_errors(tmp_path: Path) -> None:
    clock = ManualClock(utc("2026-11-26 07:00"))
    with api(tmp_path, clock, text=PLANT) as client:
        for url, body, status, detail in [
            ("/api/lines/line1/handover/notes", {"text": "x", "date": "2026-11-27", "shift": "early"}, 409,
             "shift early on 2026-11-27 of line 'line1' starts at 2026-11-27T06:00:00+00:00: a note is left on a "
             "shift that has started"),
            ("/api/lines/line1/handover/acknowledge", {"date": "2026-11-26", "shift": "late"}, 409,
             "shift late on 2026-11-26 of line 'line1' starts at 2026-11-26T14:00:00+00:00: a handover is "
             "acknowledged once its shift has started"),
            ("/api/lines/line1/handover/notes", {"text": "x", "shift": "night"}, 404,
             "line 'line1' has no shift 'night'"),
            ("/api/lines/line1/handover/acknowledge", {"date": "2026-11-28", "shift": "early"}, 404,
             "line 'line1' has no shift early on 2026-11-28"),
        ]:
            r = client.post(url, json=body, headers=SUP)
            assert (r.status_code, r.json()["detail"]) == (status, detail)
        for body in [{}, {"text": ""}, {"text": "   "}, {"text": "x" * 4001}, {"text": "x", "extra": 1},
                     {"text": "x", "by": ""}, {"text": "x", "date": "26.11.2026"}, {"text": 5}]:
            r = client.post("/api/lines/line1/handover/notes", json=body, headers=SUP)
            assert r.status_code == 422, (body, r.text)
        assert client.post("/api/lines/line1/handover/notes", json={"text": "x"},
                           headers=bearer("operator")).status_code == 403
        assert client.post("/api/lines/nope/handover/notes", json={"text": "x"}, headers=SUP).status_code == 404
        assert client.get("/api/lines/line1/handover?shift=night").status_code == 404
        assert client.get("/api/lines/line1/handover?date=2026-13-01").status_code == 422
        assert client.get("/api/lines/line1/handover").json()["notes"] == []  # nothing refused was written
