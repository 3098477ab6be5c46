"""The live state's JSON is made once per state; what the hub compares is that JSON without the time stamp."""

from __future__ import annotations

import json

from andon.state import LineState


def _state(name: str = "Line 1") -> LineState:
    return LineState(
        line="L1", name=name, at="2026-12-01T08:00:00+00:00", condition="normal", reason="on plan", shift=None,
        takt_seconds=60.0, plan_to_date=10, actual_to_date=12, scrap_to_date=1, delta=2, shift_target=480,
        current_interval=None, last_count_at=None, sources=[],
    )


def test_encoded_is_the_models_json_and_follows_a_field_set_later() -> None:
    state = _state()
    assert state.encoded() == state.model_dump_json().encode()
    state.delta = -3  # the hub adds open andon calls and stops after the engine made the state
    assert json.loads(state.encoded())["delta"] == -3
    copy = state.model_copy(update={"actual_to_date": 99})
    assert json.loads(copy.encoded())["actual_to_date"] == 99
    assert json.loads(state.encoded())["actual_to_date"] == 12


def test_visible_leaves_out_only_the_time_stamp_whatever_the_name_holds() -> None:
    # A name holding the very text of the key must not be cut instead of it.
    for name in ['Line 1', 'a,"at":"b', 'x","at":"2026-12-01T08:00:00+00:00']:
        state = _state(name)
        assert state.visible() == state.model_dump_json(exclude={"at"}).encode()
        later = state.model_copy(update={"at": "2026-12-01T08:00:01+00:00"})
        assert later.visible() == state.visible()
        assert json.loads(state.visible())["name"] == name
