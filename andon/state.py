"""The live state of a line: one typed model, made by the engine, served by the API, pushed on the stream and
MQTT, and shown by stack lights and displays (docs/interfaces.md has its JSON).

The engine makes a state as a document: the model's fields as plain JSON values, in the model's order. The API
validates it into a ``LineState``; the live hub, which makes a state per count on a busy line, sends the document
as it is (``LiveState``) and builds the model only for a listener that asks for it. Both give the same JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

import orjson
from pydantic import BaseModel, Field, PrivateAttr

from andon.conditions import AndonSignal, Condition


class ShiftView(BaseModel):
    """A shift instance."""

    id: str
    name: str
    date: str
    start: str
    end: str


class CurrentInterval(BaseModel):
    """The current interval of a line: the same figures as the board's current row."""

    start: str
    end: str
    planned: int = Field(description="Plan of the whole interval.")
    planned_so_far: int = Field(description="Plan of the interval up to now.")
    actual: int | None
    delta: int | None = Field(description="actual - planned_so_far.")
    condition: str = Field(description="The interval's condition, against planned_so_far.")


SourceStatusWord = Literal["connecting", "online", "offline"]


class SourceView(BaseModel):
    """Availability of one count source."""

    id: str
    online: bool
    stale: bool
    last_seen: str | None
    detail: str
    status: SourceStatusWord = Field(
        "online",
        description="connecting: the driver has neither read a value nor confirmed its connection yet "
        "(last_seen is null); online; offline (detail says why).",
    )


class AndonBrief(BaseModel):
    """An open andon call as shown on a line's state."""

    id: int
    station: str
    category: str
    state: str
    raised_at: str
    tier: str
    tier_index: int


class StopBrief(BaseModel):
    """A stop as shown on a line's state: the open one, or the one waiting for its reason."""

    id: int
    start: str
    end: str | None
    reason: str | None
    small: bool = Field(description="Shorter than losses.small_stop_seconds (so far, while open).")
    needs_reason: bool = Field(description="Unexplained, not small, and older than losses.reason_after_seconds.")


class ProductView(BaseModel):
    """The product a line is making."""

    id: str
    name: str
    since: str | None = Field(description="When its run started (null: the line's first product, never set).")
    takt_seconds: float | None = Field(description="Takt while it runs.")
    ideal_cycle_seconds: float | None = Field(None, description="Its ideal cycle on this line (OEE).")


class WorkOrderView(BaseModel):
    """The work order a line is making, with its progress."""

    id: str
    product: str
    quantity: int | None = Field(description="Parts ordered (null: an order number not loaded as a work order).")
    made: int = Field(description="Good parts counted while the order ran.")
    remaining: int | None = Field(description="quantity - made, never below 0.")
    expected_finish: str | None = Field(
        description="When the remaining parts are made at the order's rate so far (good parts per available "
        "second), counting only available time ahead; null without a rate."
    )
    due: str | None
    state: str


class ChangeoverView(BaseModel):
    """A changeover going on: from one product to another, planned up to its target, an overrun beyond."""

    from_product: str | None
    to_product: str
    started_at: str
    target_seconds: float
    target_end: str | None = Field(description="When the target runs out (breaks do not use it up).")
    overrun: bool = Field(description="The changeover is past its target: an unplanned stop (changeover_overrun).")


class LineState(BaseModel):
    """Live state of a line."""

    line: str
    name: str
    at: str
    condition: Condition
    reason: str
    shift: ShiftView | None
    takt_seconds: float | None
    plan_to_date: int
    actual_to_date: int
    scrap_to_date: int
    delta: int
    shift_target: int
    current_interval: CurrentInterval | None
    last_count_at: str | None
    sources: list[SourceView]
    open_andons: list[AndonBrief] = Field(default_factory=list)
    product: ProductView | None = Field(None, description="The product being made (null: a line without products).")
    work_order: WorkOrderView | None = Field(None, description="The work order being made, if any.")
    changeover: ChangeoverView | None = Field(None, description="The changeover going on, if any.")
    scheduled: bool = Field(True, description="False while the line is not scheduled (condition off).")
    andon: AndonSignal | None = Field(
        None,
        description="The most urgent open andon call, shown on top of the condition: escalated (a waiting call "
        "that climbed a tier) > raised (waiting) > acknowledged; null without open calls.",
    )
    stop: StopBrief | None = Field(None, description="The open stop, null while the line runs.")
    stop_prompt: StopBrief | None = Field(
        None, description="The latest stop of the shift that waits for its reason (open or closed), if any.",
    )

    _json: bytes | None = PrivateAttr(None)  # the JSON, made once per state (a field set afterwards drops it)

    # The cache is read and written through pydantic's dict of private values: going through the attribute
    # costs a lookup of pydantic's own for each access, on every state of every count.
    def __setattr__(self, name: str, value: Any) -> None:
        if name[0] != "_":
            self.__pydantic_private__["_json"] = None  # type: ignore[index]
        super().__setattr__(name, value)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> LineState:
        """Copy the state (the copy makes its own JSON)."""
        copy = super().model_copy(update=update, deep=deep)
        copy.__pydantic_private__["_json"] = None  # type: ignore[index]
        return copy

    def encoded(self) -> bytes:
        """Return the state as JSON (UTF-8), made once: the hub compares it, MQTT and UNS publish it."""
        private: dict[str, Any] = self.__pydantic_private__  # type: ignore[assignment]
        encoded = private["_json"]
        if encoded is None:
            encoded = private["_json"] = self.model_dump_json().encode()
        return encoded

    def visible(self) -> bytes:
        """Return the state as JSON without its time stamp: equal values look the same on a board.

        Cut from ``encoded``: ``at`` follows ``line`` and ``name``, whose quotes inside are escaped, so the first
        ``,"at":"`` is the key, and its value (an ISO time) holds no quote.
        """
        return _without_at(self.encoded())


# --- the document form --------------------------------------------------------------------------------------------

STATE_FIELDS: tuple[str, ...] = tuple(LineState.model_fields)
# The fields a line's runtime leaves out, with the model's defaults: the live states add them.
_DEFAULTS: dict[str, Any] = {
    name: field.default for name, field in LineState.model_fields.items() if not field.is_required()
    and field.default_factory is None
}

# pydantic writes a float of 1e16 and more with "e+" (1e+16), orjson without (1e16): both JSON, not the same bytes.
_BIG_FLOAT = 1e16


def _float_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Return the paths of the float fields of a model and of the models it holds (a list's items not included)."""
    paths: list[tuple[str, ...]] = []
    for name, field in model.model_fields.items():
        kinds = get_args(field.annotation) or (field.annotation,)
        for kind in kinds:
            if kind is float:
                paths.append((*prefix, name))
            elif isinstance(kind, type) and issubclass(kind, BaseModel):
                paths.extend(_float_paths(kind, (*prefix, name)))
    return paths


FLOAT_PATHS = _float_paths(LineState)


def state_document(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Return a state's document: every field of the model in its order, the ones not given at their defaults."""
    document = {}
    for name in STATE_FIELDS:
        if name in fields:
            document[name] = fields[name]
        elif name == "open_andons":
            document[name] = []
        else:
            document[name] = _DEFAULTS[name]
    return document


def encode_document(document: Mapping[str, Any]) -> bytes:
    """Return a state document's JSON, byte for byte what its model's ``model_dump_json`` gives."""
    for path in FLOAT_PATHS:
        node: Any = document
        for part in path:
            node = node.get(part) if type(node) is dict else None  # (a type test: isinstance of an ABC costs more)
        if type(node) is float and not -_BIG_FLOAT < node < _BIG_FLOAT:
            return LineState.model_validate(document).encoded()
    return orjson.dumps(document)


class LiveState:
    """A line's state as the live hub sends it: the document, its JSON made once, and the model on demand."""

    __slots__ = ("document", "_json", "_model")

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self._json: bytes | None = None
        self._model: LineState | None = None

    def encoded(self) -> bytes:
        """Return the state as JSON (UTF-8), as the model writes it."""
        if self._json is None:
            self._json = encode_document(self.document)
        return self._json

    def visible(self) -> bytes:
        """Return the JSON without its time stamp (cut as ``LineState.visible`` cuts it)."""
        return _without_at(self.encoded())

    @property
    def model(self) -> LineState:
        """Return the typed state (validated once, when first asked for)."""
        if self._model is None:
            self._model = LineState.model_validate(self.document)
        return self._model


def _without_at(encoded: bytes) -> bytes:
    head = encoded.index(b',"at":"')
    return encoded[:head] + encoded[encoded.index(b'"', head + 7) + 1:]
