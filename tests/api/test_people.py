"""People: with `people:` listed, every "by" names a person by id or badge and records keep the person's id."""

from __future__ import annotations

from pathlib import Path

import pytest

from andon.clock import ManualClock
from andon.config.loader import ConfigError, parse_config
from tests.api.api_fixtures import api
from tests.core.engine_fixtures import utc

PLANT = """
plant: {{name: Test Plant, timezone: UTC}}
database: sqlite:///{db}
shifts:
  - {{id: day, start: "06:00", end: "14:00"}}
lines:
  - id: line1
    takt_seconds: 60
    sources: [{{type: http, id: http}}]
    andon:
      categories: [quality]
      escalation: [{{tier: team_leader, after_seconds: 0}}]
areas:
  - {{id: assembly, lines: [line1]}}
people:
  - {{id: sam, name: Sam Lee, badge: "0042", role: supervisor, area: assembly, language: en, email: sam@example.com}}
  - {{id: kim, badge: "0077", role: operator}}
"""


def test_by_names_a_person_by_id_or_badge_and_nobody_else(tmp_path: Path) -> None:
    clock = ManualClock(utc("2026-11-26 06:00"))
    with api(tmp_path, clock, text=PLANT) as client:
        assert client.post("/api/lines/line1/counts", json={"count": 1, "ts": utc("2026-11-26 06:00")}).status_code \
            == 201
        call = client.post("/api/andons", json={"line": "line1", "station": "st1", "category": "quality"}).json()
        r = client.post(f"/api/andons/{call['id']}/acknowledge", json={"by": "nobody"})
        assert (r.status_code, r.json()["detail"]) == (422, "no person 'nobody' in people: give a person's id or badge")
        assert client.get(f"/api/andons/{call['id']}").json()["state"] == "raised"  # refused: nothing changed
        acked = client.post(f"/api/andons/{call['id']}/acknowledge", json={"by": " 0042 "}).json()
        resolved = client.post(f"/api/andons/{call['id']}/resolve", json={"by": "kim"}).json()
        assert (acked["acknowledged_by"], resolved["resolved_by"]) == ("sam", "kim")

        clock.set(utc("2026-11-26 07:30"))  # a stop from 06:00; the 06:00 row missed its 60
        stop = client.get("/api/lines/line1/stops").json()[0]
        r = client.put(f"/api/lines/line1/stops/{stop['id']}/reason", json={"reason": "jam", "by": "0077"})
        assert (r.status_code, r.json()["reason_by"]) == (200, "kim")
        assert client.put(f"/api/lines/line1/stops/{stop['id']}/reason",
                          json={"reason": "jam", "by": "0099"}).status_code == 422
        row = {"start": "2026-11-26T06:00:00+00:00", "reason": "line stopped", "by": "0042"}
        assert client.put("/api/lines/line1/board/reason", json=row).json()["row"]["reason_by"] == "sam"
        assert client.put("/api/lines/line1/board/reason", json={**row, "by": "x"}).status_code == 422
        signed = client.put("/api/lines/line1/board/signoff", json={"start": row["start"], "by": "0042"}).json()
        assert signed["signed_off_person"] == "sam"
        note = client.post("/api/lines/line1/handover/notes", json={"text": "jam at st2", "by": "0077"}).json()
        assert note["person"] == "kim"
        assert client.post("/api/lines/line1/handover/notes", json={"text": "n", "by": "sam "}).json()["person"] \
            == "sam"
        assert client.post("/api/lines/line1/handover/notes", json={"text": "n", "by": "ghost"}).status_code == 422


@pytest.mark.parametrize(("people", "message"), [
    ("  - {id: sam}\n  - {id: sam}\n", "duplicate person id 'sam'"),
    ("  - {id: sam, badge: '1'}\n  - {id: kim, badge: '1'}\n", "badge '1' of 'kim' is already 'sam''s"),
    ("  - {id: sam}\n  - {id: kim, badge: sam}\n", "badge 'sam' of 'kim' is already 'sam''s"),
    ("  - {id: sam, area: paint}\n", "person 'sam' names unknown area 'paint'"),
    ("  - {id: 'sam lee'}\n", "String should match pattern"),
])
def test_people_mistakes_are_config_errors(tmp_path: Path, people: str, message: str) -> None:
    text = PLANT.split("people:\n")[0].format(db=tmp_path / "a.db").replace("{{", "{").replace("}}", "}")
    with pytest.raises(ConfigError) as error:
        parse_config(text + "people:\n" + people)
    assert message in str(error.value)
