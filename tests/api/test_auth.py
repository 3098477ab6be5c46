"""Role boundaries: operator < supervisor < engineer; public reads; names recorded on changes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from andon.clock import ManualClock
from tests.api.api_fixtures import api, bearer, config_text
from tests.core.engine_fixtures import utc

ROW = "2026-11-25T06:00:00+00:00"

# (method, url, body, lowest role allowed)
WRITES = [
    ("post", "/api/lines/line1/counts", {"count": 1}, "operator"),
    ("post", "/api/andons", {"line": "line1", "station": "s", "category": "quality"}, "operator"),
    ("post", "/api/andons/1/acknowledge", None, "operator"),
    ("post", "/api/andons/1/resolve", None, "operator"),
    ("post", "/api/problems", {"title": "t", "line": "line1"}, "supervisor"),
    ("patch", "/api/problems/1", {"status": "plan"}, "supervisor"),
    ("put", "/api/lines/line1/board/reason", {"start": ROW, "reason": "r"}, "supervisor"),
    ("put", "/api/lines/line1/board/signoff", {"start": ROW}, "supervisor"),
    ("post", "/api/lines/line1/handover/notes", {"text": "n"}, "supervisor"),
    ("post", "/api/lines/line1/handover/acknowledge", {}, "supervisor"),
    ("put", "/api/lines/line1/plan", {"date": "2026-11-25", "shift": "early", "takt_seconds": 50}, "supervisor"),
]
ROLES = ["operator", "supervisor", "engineer"]


@pytest.mark.parametrize(("method", "url", "body", "lowest"), WRITES)
def test_every_write_checks_its_role(tmp_path: Path, method: str, url: str, body: object, lowest: str) -> None:
    clock = ManualClock(utc("2026-11-25 08:00"))
    with api(tmp_path, clock, auth=True) as client:
        # Seed an andon call and a problem for the endpoints that need them.
        client.post(
            "/api/andons", json={"line": "line1", "station": "seed", "category": "quality"}, headers=bearer("engineer")
        )
        client.post("/api/problems", json={"title": "seed", "line": "line1"}, headers=bearer("engineer"))
        none = client.request(method.upper(), url, json=body)
        assert (none.status_code, none.json()["detail"]) == (401, "this needs a bearer token")
        wrong = client.request(method.upper(), url, json=body, headers={"Authorization": "Bearer guess"})
        assert (wrong.status_code, wrong.json()["detail"]) == (401, "unknown token")
        for role in ROLES:
            r = client.request(method.upper(), url, json=body, headers=bearer(role))
            if ROLES.index(role) < ROLES.index(lowest):
                assert r.status_code == 403, (role, r.text)
                assert r.json()["detail"] == f"token '{role}-token' is {role}; this needs {lowest}"
            else:
                assert r.status_code in (200, 201, 409), (role, r.text)


def test_names_are_recorded_on_what_tokens_change(tmp_path: Path) -> None:
    clock = ManualClock(utc("2026-11-25 08:00"))
    with api(tmp_path, clock, auth=True) as client:
        call = client.post(
            "/api/andons", json={"line": "line1", "station": "s", "category": "quality"}, headers=bearer("operator")
        ).json()
        ack = client.post(f"/api/andons/{call['id']}/acknowledge", headers=bearer("supervisor")).json()
        assert (call["raised_by"], ack["acknowledged_by"]) == ("operator-token", "supervisor-token")
        client.put(
            "/api/lines/line1/board/reason",
            json={"start": ROW, "reason": "r", "open_problem": {"title": "t"}},
            headers=bearer("supervisor"),
        )
        assert client.get("/api/problems/1").json()["created_by"] == "supervisor-token"
        assert client.get("/api/lines/line1/board").json()["rows"][0]["reason_by"] == "supervisor-token"
        plan = client.put(
            "/api/lines/line1/plan",
            json={"date": "2026-11-25", "shift": "early", "takt_seconds": 50},
            headers=bearer("engineer"),
        ).json()
        assert plan["set_by"] == "engineer-token"


def test_reads_are_open_when_public_and_closed_otherwise(tmp_path: Path) -> None:
    clock = ManualClock(utc("2026-11-25 08:00"))
    reads = [
        "/api/lines",
        "/api/lines/line1/state",
        "/api/lines/line1/board",
        "/api/andons",
        "/api/problems",
        "/api/summary/daily?line=line1",
    ]
    with api(tmp_path / "public", clock, auth=True, public=True) as client:
        assert [client.get(u).status_code for u in reads] == [200] * len(reads)
    with api(tmp_path / "closed", clock, auth=True, public=False) as client:
        assert [client.get(u).status_code for u in reads] == [401] * len(reads)
        assert [client.get(u, headers=bearer("operator")).status_code for u in reads] == [200] * len(reads)
        assert client.get("/healthz").status_code == 200


def test_token_create_command_makes_a_working_token(tmp_path: Path) -> None:
    (tmp_path / "plant.yaml").write_text(config_text(auth=True).format(db=tmp_path / "andon.db"))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "andon.cli",
            "token",
            "create",
            "--role",
            "supervisor",
            "--name",
            "tablet1",
            "--config",
            str(tmp_path / "plant.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    secret = out.stdout.strip()
    assert len(secret) >= 40 and "tablet1" in out.stderr
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "andon.cli",
            "token",
            "create",
            "--role",
            "operator",
            "--name",
            "tablet1",
            "--config",
            str(tmp_path / "plant.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 2 and "exists" in again.stderr
    clock = ManualClock(utc("2026-11-25 08:00"))
    from andon.auth import TokenBook
    from andon.storage.store import Store, open_database

    store = Store(open_database(f"sqlite:///{tmp_path / 'andon.db'}"))
    assert TokenBook(None, store).lookup(secret) is not None
    store.engine.dispose()
    with api(tmp_path, clock, auth=True) as client:
        r = client.post(
            "/api/problems", json={"title": "t", "line": "line1"}, headers={"Authorization": f"Bearer {secret}"}
        )
        assert (r.status_code, r.json()["created_by"]) == (201, "tablet1")
