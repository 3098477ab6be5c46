"""Honest source health: a source is connecting, with no last_seen, until its driver reports."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from andon.clock import ManualClock
from display.view import line_view
from tests.core.plant_fixtures import make_config, make_plant

T0 = 1_764_324_000.0  # 2025-11-28T10:00:00Z, inside the early shift (Europe/London = UTC)

CONFIG = """
plant: {{name: P, timezone: Europe/London}}
database: sqlite:///{db}
shifts: [{{id: early, start: "06:00", end: "14:00"}}]
lines:
  - id: line1
    takt_seconds: 60
    sources:
      - {{type: modbus, id: plc, host: 10.0.0.5, register: 0, mode: cumulative}}
  - id: line2
    takt_seconds: 60
    sources: [{{type: http, id: http}}]
"""


def test_a_driven_source_is_connecting_and_the_line_stale_until_it_reports(tmp_path: Path) -> None:
    """Before the PLC driver reports: status connecting, not online, last_seen null; the line stale saying so."""
    clock = ManualClock(T0)
    plant = make_plant(make_config(tmp_path, CONFIG), clock)
    try:
        state = plant.line("line1").state()
        source = state.sources[0]
        assert (source.status, source.online, source.stale, source.last_seen) == ("connecting", False, True, None)
        assert (state.condition, state.reason) == ("stale", "connecting to plc")
        clock.advance(5)
        plant.sink("line1", "plc").online()
        state = plant.line("line1").state()
        source = state.sources[0]
        assert (source.status, source.online, source.stale) == ("online", True, False)
        assert source.last_seen == "2025-11-28T10:00:05+00:00"
        assert state.condition == "abnormal"  # 240 parts planned since 06:00, none made: stopped
        plant.sink("line1", "plc").offline("PLC 10.0.0.5 unreachable: timed out")
        source = plant.line("line1").state().sources[0]
        why = "PLC 10.0.0.5 unreachable: timed out"
        assert (source.status, source.online, source.detail) == ("offline", False, why)
    finally:
        plant.close()


def test_a_reading_ends_connecting_too(tmp_path: Path) -> None:
    """A value read is as good as a confirmed connection: the first reading makes the source online."""
    clock = ManualClock(T0)
    plant = make_plant(make_config(tmp_path, CONFIG), clock)
    try:
        plant.intake("line1", "plc", 100, ts=T0)
        source = plant.line("line1").state().sources[0]
        assert (source.status, source.last_seen) == ("online", "2025-11-28T10:00:00+00:00")
    finally:
        plant.close()


def test_a_passive_http_source_is_online_with_no_last_seen(tmp_path: Path) -> None:
    """An HTTP source has nothing to connect to: online from the start, last_seen null until a count."""
    clock = ManualClock(T0)
    plant = make_plant(make_config(tmp_path, CONFIG), clock)
    try:
        state = plant.line("line2").state()
        assert [(s.status, s.online, s.last_seen) for s in state.sources] == [("online", True, None)]
        assert state.condition != "stale"
    finally:
        plant.close()


def test_the_pi_display_says_connecting(tmp_path: Path) -> None:
    """The display's status line names the source it waits for, once."""
    clock = ManualClock(T0)
    plant = make_plant(make_config(tmp_path, CONFIG), clock)
    try:
        state = plant.line("line1").state().model_dump(mode="json")
    finally:
        plant.close()
    view = line_view("line1", state, None, stale=False, last_good=T0, problem=None, tz=ZoneInfo("Europe/London"))
    assert view.status == "connecting to plc"
