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


def _document(**changes: object) -> dict[str, object]:
    from andon.state import state_document

    fields = _state().model_dump(mode="json")
    fields.update(changes)
    return state_document(fields)


def test_a_document_encodes_to_its_models_bytes_whatever_its_floats() -> None:
    from andon.state import FLOAT_PATHS, encode_document

    product = {"id": "A", "name": "A", "since": None, "takt_seconds": 30.0, "ideal_cycle_seconds": 25.0}
    changeover = {"from_product": "A", "to_product": "B", "started_at": "2026-12-01T08:00:00+00:00",
                  "target_seconds": 600.0, "target_end": None, "overrun": False}
    assert {path[0] for path in FLOAT_PATHS} == {"takt_seconds", "product", "changeover"}
    for path in FLOAT_PATHS:
        for value in (0.1, 1e-7, 37.5, 1e15, 1e16, 2.5e20, 1.7976931348623157e308):
            document = _document(product=dict(product), changeover=dict(changeover))
            node: dict[str, object] = document
            for part in path[:-1]:
                node = node[part]  # type: ignore[assignment]
            node[path[-1]] = value
            expected = LineState.model_validate(document).model_dump_json().encode()
            assert encode_document(document) == expected, (path, value)


def test_a_live_state_is_the_models_json_without_its_time_stamp() -> None:
    from andon.state import LiveState

    document = _document(name='x","at":"2026-12-01T08:00:00+00:00')
    live = LiveState(document)
    model = LineState.model_validate(document)
    assert live.encoded() == model.encoded()
    assert live.visible() == model.visible() == model.model_dump_json(exclude={"at"}).encode()
    assert live.model.model_dump() == model.model_dump()
    assert live.model is live.model  # validated once
