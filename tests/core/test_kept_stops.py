"""A line's state keeps its open stop and stop prompt from one count to the next only while they hold: a stop
opening after a silence, a count ending it, a stop coming to need its reason, a reason given and a split each
show in the very next state. (Every reuse in every test is also checked against a fresh search in conftest.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from andon.clock import ManualClock
from andon.services import Services, services_for
from tests.core.engine_fixtures import utc
from tests.core.plant_fixtures import make_config, make_plant

CONFIG = """
plant: {{name: Test, timezone: UTC}}
database: sqlite:///{db}
shifts:
  - {{id: early, start: "06:00", end: "08:00"}}
lines:
  - id: line1
    takt_seconds: 60
    thresholds: {{stop_after_seconds: 180}}
    losses: {{small_stop_seconds: 300, reason_after_seconds: 600}}
    sources:
      - {{type: http, id: http}}
"""


def at(hhmm: str, seconds: float = 0) -> float:
    return utc(f"2026-11-25 {hhmm}") + seconds


@pytest.fixture
def line(tmp_path: Path) -> Iterator[tuple[Services, ManualClock]]:
    clock = ManualClock(at("06:00"))
    plant = make_plant(make_config(tmp_path, CONFIG), clock)
    yield services_for(plant), clock
    plant.close()


def count(services: Services, clock: ManualClock, t: float) -> dict[str, Any]:
    """Count one part at ``t`` (the clock there too) and return the state after it."""
    clock.set(t)
    services.plant.intake("line1", "http", 1, ts=t, event_id=f"c{t}")
    return services.states.document("line1")


def brief(stop: dict[str, Any] | None) -> tuple[str, str | None, bool, bool] | None:
    if stop is None:
        return None
    return stop["start"][11:19], stop["end"] and stop["end"][11:19], stop["small"], stop["needs_reason"]


def test_stops_are_kept_between_counts_and_change_in_the_first_state_after_they_do(line: Any) -> None:
    services, clock = line
    states = services.states
    for minute in ("06:00", "06:01", "06:02"):
        state = count(services, clock, at(minute))
    # The shift began with a count: no stop, no prompt; the next counts reuse that.
    assert (state["stop"], state["stop_prompt"]) == (None, None)
    kept = states._kept["line1"]  # found at 06:00: no stop can open before 06:03 (180 s without a count)
    assert (kept.since, kept.until) == (at("06:00"), at("06:03"))  # the counts at 06:01 and 06:02 reused it
    assert count(services, clock, at("06:03"))["stop"] is None
    assert (states._kept["line1"].since, states._kept["line1"].until) == (at("06:03"), at("06:06"))
    # Silence after 06:03: no stop at 06:05:59.999, one open from 06:03 at 06:06 (180 s).
    clock.set(at("06:05", 59.999))
    assert states.document("line1")["stop"] is None
    clock.set(at("06:06"))
    state = states.document("line1")
    assert (brief(state["stop"]), state["stop_prompt"]) == (("06:03:00", None, True, False), None)
    # While open it is searched again every state: it grows, and is no longer small at 300 s.
    clock.set(at("06:08"))
    assert brief(states.document("line1")["stop"]) == ("06:03:00", None, False, False)
    # A count ends it at 06:09 (360 s, not small); it needs its reason 600 s after it began, at 06:13.
    state = count(services, clock, at("06:09"))
    assert (state["stop"], state["stop_prompt"]) == (None, None)
    assert states._kept["line1"].until == at("06:12")  # the count at 06:09 may be followed by a stop at 06:12
    for minute in ("06:10", "06:11", "06:12"):
        state = count(services, clock, at(minute))
        assert (state["stop"], state["stop_prompt"]) == (None, None)
    assert states._kept["line1"].until == at("06:13")  # now the prompt's time comes first
    clock.set(at("06:12", 59.999))
    assert states.document("line1")["stop_prompt"] is None
    state = count(services, clock, at("06:13"))
    assert (state["stop"], brief(state["stop_prompt"])) == (None, ("06:03:00", "06:09:00", False, True))
    stop_id = state["stop_prompt"]["id"]
    kept = states._kept["line1"]
    assert count(services, clock, at("06:14"))["stop_prompt"]["id"] == stop_id
    assert states._kept["line1"] is kept
    # A reason given: the next state has no prompt.
    services.stops.set_reason("line1", stop_id, "jam", None, "Ana")
    assert count(services, clock, at("06:15"))["stop_prompt"] is None


def test_a_split_and_a_late_count_show_in_the_next_state(line: Any) -> None:
    services, clock = line
    states = services.states
    for minute in ("06:00", "06:01"):
        count(services, clock, at(minute))
    clock.set(at("06:20"))
    state = count(services, clock, at("06:20"))  # ends the stop 06:01-06:20; older than 600 s: the prompt
    assert brief(state["stop_prompt"]) == ("06:01:00", "06:20:00", False, True)
    count(services, clock, at("06:21"))
    # A split: the later half (06:10-06:20) is the one the prompt asks about now.
    services.stops.split("line1", state["stop_prompt"]["id"], at("06:10"), "Ana")
    state = count(services, clock, at("06:22"))
    assert brief(state["stop_prompt"]) == ("06:10:00", "06:20:00", False, True)
    # A count stamped in the gap (a late message) cuts it again: 06:10-06:15 (300 s, not small) is asked about;
    # 06:15-06:20 needs its reason only from 06:25, 600 s after it began.
    clock.set(at("06:22", 30))
    services.plant.intake("line1", "http", 1, ts=at("06:15"), event_id="late")
    state = states.document("line1")
    assert brief(state["stop_prompt"]) == ("06:10:00", "06:15:00", False, True)
    assert states._kept["line1"].until == at("06:25")
    for minute in ("06:23", "06:24"):
        assert brief(count(services, clock, at(minute))["stop_prompt"]) == ("06:10:00", "06:15:00", False, True)
    assert brief(count(services, clock, at("06:25"))["stop_prompt"]) == ("06:15:00", "06:20:00", False, True)


def test_a_count_read_just_now_keeps_the_stops_though_its_time_rounds_up_to_the_next_millisecond(line: Any) -> None:
    services, clock = line
    states = services.states
    count(services, clock, at("06:00"))
    assert states._kept["line1"].until == at("06:03")
    # The search is made again at 06:03, when a count comes in just then. Count times are kept to the
    # millisecond: 06:03:00.0006 is kept as 06:03:00.001, ahead of the clock. Time alone still opens no stop
    # before 06:03:00.001 + 180 s, so the states after it reuse the search.
    clock.set(at("06:03", 0.0006))
    services.plant.intake("line1", "http", 1, ts=clock.now(), event_id="rounded up")
    assert states.document("line1")["stop"] is None
    kept = states._kept["line1"]
    assert (kept.since, kept.until) == (at("06:03", 0.0006), pytest.approx(at("06:06", 0.001), abs=1e-6))
    clock.set(at("06:03", 0.0008))
    assert states.document("line1")["stop"] is None
    assert states._kept["line1"] is kept
    # A count truly ahead of the clock (a device's clock a second fast) gives no such promise.
    clock.set(at("06:06", 2))
    services.plant.intake("line1", "http", 1, ts=at("06:06", 3), event_id="ahead")
    states.document("line1")
    assert states._kept["line1"].until == states._kept["line1"].since == at("06:06", 2)
