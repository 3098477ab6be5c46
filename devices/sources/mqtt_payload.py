"""What one MQTT count message says: its count, event time and event id, or the reason it holds none.

Counts and times follow the rules every driver shares (``andon.payload``: ``whole_number``, ``instant``);
what only a message can get wrong has its own reasons, in the same snake_case: ``not_utf8``,
``not_json`` and the other strict-JSON reasons, ``not_an_object``, ``missing_field``, ``bad_id``, ``bad_reason``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from andon.payload import BadJson, RejectedReading, excerpt, instant, load_json, text_problem, whole_number


class PayloadFields(Protocol):
    """Where in a JSON message the count, its time and its id are (an MQTT source's config)."""

    @property
    def field(self) -> str | None:
        """JSON field of the count (None: the payload is a bare number)."""
        ...

    @property
    def time_field(self) -> str | None:
        """JSON field of the event time."""
        ...

    @property
    def id_field(self) -> str | None:
        """JSON field of the event id."""
        ...

    @property
    def reason_field(self) -> str | None:
        """JSON field of a scrap reason code."""
        ...


T = TypeVar("T")

MAX_EVENT_ID = 128  # the longest event id the plant keeps
_CONTROL = re.compile("[\x00-\x1f\x7f]")  # the control characters an event id may not hold


@dataclass(frozen=True)
class MqttReading:
    """What one payload says: the count, its time (epoch seconds), its event id and its scrap reason code."""

    value: int
    ts: float
    event_id: str | None
    reason: str | None = None


def payload_text(payload: bytes) -> str:
    """Return a payload as text, or raise RejectedReading ``not_utf8``."""
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise RejectedReading("not_utf8", f"{len(payload)} bytes of binary") from None


def json_field(text: str, field: str) -> tuple[dict[str, Any], Any]:
    """Read ``text`` as a strict JSON object and return it with the value at ``field`` (a.b reaches in), or raise
    RejectedReading: a strict-JSON reason, ``not_an_object`` or ``missing_field``."""
    try:
        document = load_json(text)
    except BadJson as exc:
        raise RejectedReading(exc.reason, f"payload {excerpt(text, 40)}: {exc}") from None
    if not isinstance(document, dict):
        raise RejectedReading("not_an_object", f"payload {excerpt(text, 40)} is not a JSON object")
    found, raw = lookup(document, field)
    if not found:
        raise RejectedReading("missing_field", f"no {field!r} in {excerpt(text)}")
    return document, raw


def event_time(document: dict[str, Any], field: str | None, default: T) -> float | T:
    """Return the event time at ``field`` (epoch seconds or ISO 8601 with offset), or ``default`` when absent."""
    if field is not None:
        found, raw_time = lookup(document, field)
        if found and raw_time is not None:
            return instant(raw_time, field)
    return default


def parse_payload(payload: bytes, config: PayloadFields, received_at: float) -> MqttReading:
    """Read the count, time and id from one payload, or raise RejectedReading saying why."""
    text = payload_text(payload)
    if config.field is None:
        return MqttReading(whole_number(text, "payload", booleans=False), received_at, None)
    document, raw = json_field(text, config.field)
    value = whole_number(raw, config.field, booleans=False)
    ts = event_time(document, config.time_field, received_at)
    event_id = None
    if config.id_field is not None:
        found, raw_id = lookup(document, config.id_field)
        if found:
            event_id = event_id_of(raw_id, config.id_field)
    reason = None
    if config.reason_field is not None:
        found, raw_reason = lookup(document, config.reason_field)
        if found and raw_reason is not None:
            if not isinstance(raw_reason, str) or not raw_reason or text_problem(raw_reason) is not None:
                raise RejectedReading(
                    "bad_reason", f"{config.reason_field} {excerpt(str(raw_reason))} is not a reason code"
                )
            reason = raw_reason
    return MqttReading(value, ts, event_id, reason)


def event_id_of(raw: Any, field: str) -> str | None:
    """Return the event id as text, or reject one that cannot be stored or compared."""
    if raw is None:
        return None  # null: no id, as an absent field
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        # Not silently dropped: a message without a usable id would be counted again on every redelivery.
        raise RejectedReading("bad_id", f"{field} is {type(raw).__name__ if not isinstance(raw, bool) else 'a boolean'}"
                                        ", not a string or a number")
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)  # 7.0 is the id 7, as "7" and 7 are
    text = str(raw)
    problem = text_problem(text)
    if problem is None and len(text) > MAX_EVENT_ID:
        problem = f"is longer than {MAX_EVENT_ID} characters"
    if problem is None and _CONTROL.search(text):
        problem = "holds a control character"
    if problem is not None:
        raise RejectedReading("bad_id", f"{field} {excerpt(text)} {problem}")
    return text


def lookup(document: dict[str, Any], path: str) -> tuple[bool, Any]:
    """Follow a dotted path into a JSON object; return (found, value)."""
    node: Any = document
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node
