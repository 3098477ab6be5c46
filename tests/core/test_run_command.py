"""`andon run config/demo.yaml` as a real process: two live lines whose numbers follow the README's
formulas, `andon simulate` feeding it over HTTP, and Ctrl-C stopping it cleanly with every count written.

The process runs on the wall clock, so the demo's lines and sources run on one shift around now (with a
break behind and one ahead) that cannot end during the test; the demo's own shifts are checked apart."""

from __future__ import annotations

import math
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml

from tests.conftest import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
LONDON = ZoneInfo("Europe/London")
Shifts = dict[str, tuple[str, list[tuple[str, str]]]]  # id -> (local start, local breaks)
Demo = tuple[subprocess.Popen[bytes], str, Path, Shifts]


def shifts_around_now() -> Shifts:
    """Return three 8-hour shifts (local London time) covering the day like the demo's: the one running began
    two hours ago (a break behind, one ahead), then the next, then the one before it.

    The test runs a real process on the wall clock: on the demo's own shifts a shift change between two
    requests would reset the totals the test compares; this shift cannot end while it runs. The shift before
    it makes the demo's line 1 end on Widget B, so the running one starts with a changeover, as the demo does.
    """
    now = datetime.now(LONDON).replace(second=0, microsecond=0)
    at = lambda minutes: (now + timedelta(minutes=minutes)).strftime("%H:%M")  # noqa: E731
    return {"run": (at(-120), [(at(-90), at(-75)), (at(120), at(150))]), "next": (at(360), []),
            "before": (at(-600), [])}


def shift_yaml(shifts: Shifts, hours: int = 8) -> str:
    """Return the config's shifts section for ``shifts`` (each ``hours`` long)."""
    text = "shifts:\n"
    for shift_id, (start, breaks) in shifts.items():
        h, m = map(int, start.split(":"))
        end = f"{(h + hours) % 24:02d}:{m:02d}"
        text += f'  - id: {shift_id}\n    start: "{start}"\n    end: "{end}"\n'
        if breaks:
            text += "    breaks:\n" + "".join(f'      - {{start: "{a}", end: "{b}"}}\n' for a, b in breaks)
    return text


def _at(day: datetime, hhmm: str, after: datetime) -> datetime:
    h, m = map(int, hhmm.split(":"))
    t = datetime(day.year, day.month, day.day, h, m, tzinfo=LONDON)
    return t + timedelta(days=1) if t < after else t


def expected_available(state: dict[str, object], shifts: Shifts) -> tuple[float, float]:
    """Return (available seconds so far, net available seconds of the shift) from the shifts written."""
    shift = state["shift"]
    assert isinstance(shift, dict)
    start = datetime.fromisoformat(shift["start"]).astimezone(LONDON)
    end = datetime.fromisoformat(shift["end"]).astimezone(LONDON)
    now = datetime.fromisoformat(str(state["at"])).astimezone(LONDON)
    _, breaks = shifts[shift["id"]]
    spans = [(_at(start, a, start).timestamp(), _at(start, b, start).timestamp()) for a, b in breaks]

    def available(t: datetime) -> float:
        upto = min(t, end).timestamp()
        total = upto - start.timestamp()
        for a, b in spans:
            total -= max(0.0, min(b, upto) - a)
        return total

    return available(now), available(end)


# Line 1's simulated plan (config/demo.yaml): Widget A (takt 60) from each shift's start, after a changeover
# from B planned for 20 minutes; Widget B (takt 50) from 200 minutes in, after a changeover planned for 15. The
# simulated crew makes nothing during a changeover's planned time, so each lasts at least its target.
CHANGE_TO_B = timedelta(minutes=200)


def expected_line1(state: dict[str, object], shifts: Shifts) -> tuple[int, int, float]:
    """Return (plan to date, shift target, takt now) of the demo's line 1, worked out from its plan by hand."""
    shift = state["shift"]
    assert isinstance(shift, dict)
    start = datetime.fromisoformat(shift["start"]).astimezone(LONDON)
    end = datetime.fromisoformat(shift["end"]).astimezone(LONDON)
    now = datetime.fromisoformat(str(state["at"])).astimezone(LONDON)
    _, breaks = shifts[shift["id"]]
    holes = [(_at(start, a, start), _at(start, b, start)) for a, b in breaks]

    def planned_changeover(at: datetime, minutes: int) -> list[tuple[datetime, datetime]]:
        # Its target counts only time outside breaks: walk from ``at``, one minute at a time.
        taken, t, left = [], at, minutes
        while left > 0:
            if not any(a <= t < b for a, b in holes):
                taken.append((t, t + timedelta(minutes=1)))
                left -= 1
            t += timedelta(minutes=1)
        return taken

    # Runs to come are not known yet: before the change to B the whole shift is planned at A's takt.
    changed = now >= start + CHANGE_TO_B
    holes += planned_changeover(start, 20) + (planned_changeover(start + CHANGE_TO_B, 15) if changed else [])

    def available(t0: datetime, t1: datetime) -> float:
        total = max(0.0, (t1 - t0).total_seconds())
        for a, b in holes:
            total -= max(0.0, (min(b, t1) - max(a, t0)).total_seconds())
        return total

    def plan(t: datetime) -> int:
        t = min(t, end)
        switch = start + CHANGE_TO_B if changed else end
        return math.floor(Fraction(available(start, min(t, switch))) / 60 + Fraction(available(switch, t)) / 50)

    return plan(now), plan(end), 50.0 if changed else 60.0


def stored_counts(db: Path, source: str) -> dict[str, int]:
    """Return the count stored under each event id of one of line1's sources (read from SQLite)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT event_id, count FROM count_events WHERE line_id = 'line1' AND source_id = ?",
                            (source,)).fetchall()
    finally:
        conn.close()
    return {str(event_id): int(count) for event_id, count in rows}


def test_the_demo_shifts_cover_every_hour_of_every_day() -> None:
    demo = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    spans = [(s["start"], s["end"]) for s in demo["shifts"]]
    assert spans == [("06:00", "14:00"), ("14:00", "22:00"), ("22:00", "06:00")]  # each ends where the next begins


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    """`andon run` on the demo's lines and sources, its database in ``tmp_path``, on a shift around now."""
    shifts = shifts_around_now()
    text = (ROOT / "config" / "demo.yaml").read_text().replace("sqlite:///andon-demo.db", f"sqlite:///{tmp_path}/d.db")
    head, rest = text.split("shifts:\n", 1)
    tail = re.search(r"^[a-z#]", rest, re.MULTILINE)  # the first top-level line after the shifts section
    assert tail is not None
    text = head + shift_yaml(shifts) + "\n" + rest[tail.start():]
    config = tmp_path / "demo.yaml"
    config.write_text(text)
    port = free_port()
    log = tmp_path / "run.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "andon.cli", "run", str(config), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=open(log, "wb"),  # noqa: SIM115
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(base + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, timeout=30)
        yield proc, base, log, shifts
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_demo_shows_two_live_lines_following_the_formulas_and_stops_cleanly(demo: Demo) -> None:
    proc, base, log, shifts = demo
    lines = httpx.get(base + "/api/lines").json()
    assert [(x["id"], x["name"]) for x in lines] == [("line1", "Assembly 1"), ("line2", "Packing 2")]
    for entry in lines:
        state = entry["state"]
        assert state["shift"]["id"] == "run"
        assert state["condition"] in ("normal", "warning", "abnormal", "off")
        so_far, net = expected_available(state, shifts)
        if entry["id"] == "line1":
            plan_to_date, target, takt = expected_line1(state, shifts)
            assert state["takt_seconds"] == takt
            assert state["plan_to_date"] == plan_to_date
            assert state["shift_target"] == target
            assert state["product"]["id"] == ("widget-a" if takt == 60.0 else "widget-b")
            assert state["work_order"]["quantity"] == (180 if takt == 60.0 else 320)
            board = httpx.get(base + "/api/lines/line1/board").json()
            # The shift starts with Widget A for a work order, after the changeover from the last shift's B.
            assert (board["runs"][0]["product"], board["runs"][0]["start"]) == ("widget-a", state["shift"]["start"])
            assert [r["products"] for r in board["rows"]][0] == ["widget-a"]
        else:
            assert state["takt_seconds"] == pytest.approx(net / 900)
            assert state["plan_to_date"] == math.floor(so_far * 900 / net)
            assert state["shift_target"] == 900
        assert state["delta"] == state["actual_to_date"] - state["plan_to_date"]
        board = httpx.get(base + f"/api/lines/{entry['id']}/board").json()
        assert sum(r["planned"] for r in board["rows"]) == state["shift_target"]
        assert sum(r["actual"] or 0 for r in board["rows"]) == state["actual_to_date"]
    # `andon simulate` feeds the running system over HTTP.
    before = httpx.get(base + "/api/lines/line1/state").json()["actual_to_date"]
    sim = subprocess.run(
        [
            sys.executable,
            "-m",
            "andon.cli",
            "simulate",
            "--server",
            base,
            "--line",
            "line1",
            "--count",
            "5",
            "--cycle",
            "0",
            "--scrap-rate",
            "0",
            "--seed",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sim.returncode == 0, sim.stderr
    after = httpx.get(base + "/api/lines/line1/state").json()["actual_to_date"]
    assert 5 <= after - before <= 6  # 5 posted; the line's own simulator may add one meanwhile
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0
    assert "stopped; every count is written" in log.read_text()
    posted = stored_counts(log.parent / "d.db", "http")
    assert (len(posted), sum(posted.values())) == (5, 5)  # each part `andon simulate` sent, stored once


def test_sigterm_also_stops_cleanly(demo: Demo) -> None:
    proc, base, log, _shifts = demo
    reply = httpx.post(base + "/api/lines/line1/counts", json={"count": 2, "id": "last-words"})
    assert reply.status_code == 201
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert "stopped; every count is written" in log.read_text()
    assert stored_counts(log.parent / "d.db", "http") == {"last-words": 2}


def test_display_subcommand_takes_its_own_options() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "andon.cli", "display", "--help"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and out.stdout.startswith("usage: andon display")
    bad = subprocess.run(
        [sys.executable, "-m", "andon.cli", "check-config", "x.yaml", "--bogus"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "unrecognized arguments: --bogus" in bad.stderr
