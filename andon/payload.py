"""What a peer sends (HTTP bodies, MQTT payloads, device readings), read strictly: JSON, counts and times.

Python's ``json`` reads ``NaN``, ``Infinity``, ``1e309`` (as infinity), integers of any size, lone
UTF-16 surrogates (``"\\ud800"``) and NUL characters; none of them can be a count, a time or a
stored text. ``load_json`` refuses each with a short reason and a detail that quotes at most a
short excerpt, so a hostile payload never reaches the engine or the database. orjson reads first (strict RFC 8259,
some ten times faster); whatever it refuses, and any number too large to be told from a float, is read again the
strict way here, so the answer and the reason are the same either way. ``whole_number`` and
``instant`` read a count and an event time out of whatever a driver or a payload holds; every
refusal carries one of the snake_case reasons that ``/metrics`` counts (``not_a_number``,
``not_whole``, ``out_of_range``, ``bad_time``, and for JSON ``not_utf8``, ``not_json``, ``not_finite``,
``too_deep``, ``bad_text``).
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

import orjson

MAX_DEPTH = 32  # the deepest body the API takes is three levels; this leaves room and stops bombs
INT_LIMIT = 1 << 63  # integers must fit a 64-bit column
_FLOAT_LIMIT = float(INT_LIMIT)  # a float this large may have been an integer past 64 bits (orjson reads it so)
_MAX_INT_DIGITS = 19


class RejectedReading(ValueError):
    """A reading or payload refused; ``reason`` is its short snake_case name (metrics), the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class BadJson(ValueError):
    """A payload refused by ``load_json``; ``reason`` is a short name (metrics), the message says why."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def excerpt(value: Any, limit: int = 60) -> str:
    """Return a printable ASCII quote of a raw value, at most ``limit`` characters (never a huge whole)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 3 * limit:
        return f"<integer of about {value.bit_length() * 3 // 10} digits>"  # str() of a huge int is slow
    shown = ascii(value[: limit + 1] if isinstance(value, str | bytes) else value)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def text_problem(text: str) -> str | None:
    """Say what makes ``text`` unstorable (a lone surrogate, a NUL), or None when it is fine."""
    if "\x00" in text:
        return "holds a NUL character"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "holds a lone UTF-16 surrogate, which is not Unicode text"
    return None


def _constant(name: str) -> Any:
    raise BadJson("not_finite", f"{name} is not a number JSON allows")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadJson("out_of_range", f"number {excerpt(text, 40)} is beyond a float's range")
    return value


def _int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise BadJson("out_of_range", f"integer of {len(text.lstrip('-'))} digits is beyond 64 bits")
    value = int(text)
    if not -INT_LIMIT <= value < INT_LIMIT:
        raise BadJson("out_of_range", f"integer {value} is beyond 64 bits")
    return value


def _where(path: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in path) or "the document"


def check_document(document: Any, max_depth: int = MAX_DEPTH) -> None:
    """Walk a parsed document; raise BadJson for nesting past ``max_depth`` or an unstorable string."""
    if _flat_ok(document):
        return
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(document, ())]
    while stack:
        node, path = stack.pop()
        if len(path) > max_depth:
            raise BadJson("too_deep", f"nested more than {max_depth} levels deep")
        if isinstance(node, str):
            problem = text_problem(node)
            if problem:
                raise BadJson("bad_text", f"string {excerpt(node)} at {_where(path)} {problem}")
        elif isinstance(node, dict):
            for key, value in node.items():
                problem = text_problem(key)
                if problem:
                    raise BadJson("bad_text", f"key {excerpt(key)} at {_where(path)} {problem}")
                stack.append((value, (*path, key)))
        elif isinstance(node, list):
            stack.extend((value, (*path, i)) for i, value in enumerate(node))


def _flat_ok(document: Any) -> bool:
    """Tell quickly that a document is fine: an object of ASCII keys and scalar values, no NUL in any text.

    What a device sends is nearly always this; anything else is walked in full.
    """
    if type(document) is not dict:
        return False
    for key, value in document.items():
        if not key.isascii() or "\x00" in key:
            return False
        kind = type(value)
        if kind is str:
            if not value.isascii() or "\x00" in value:
                return False
        elif kind is dict or kind is list:
            return False
    return True


def _plain_numbers(document: Any) -> bool:
    """Tell whether every number in a document is one both readers agree on.

    orjson reads an integer of up to 64 unsigned bits exactly and a longer one as a float; the strict reader
    refuses integers past 64 signed bits. An integer at or past 2**63 and a float that large are read again.
    """
    stack = [document]
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind is int:
            if not -INT_LIMIT <= node < INT_LIMIT:
                return False
        elif kind is float:
            if not -_FLOAT_LIMIT < node < _FLOAT_LIMIT:
                return False
        elif kind is dict:
            stack.extend(node.values())
        elif kind is list:
            stack.extend(node)
    return True


def load_json(data: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """Parse strict JSON, or raise BadJson with a reason and a detail quoting at most a short excerpt."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        pass  # the strict reader below says why, in its own words
    else:
        if _plain_numbers(document):
            check_document(document, max_depth)
            return document
    return _load_strict(data, max_depth)


def _load_strict(data: bytes | str, max_depth: int) -> Any:
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadJson("not_utf8", f"byte {exc.start} is not UTF-8") from None
    try:
        document = json.loads(data, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except BadJson:
        raise
    except RecursionError:
        raise BadJson("too_deep", f"nested more than {max_depth} levels deep") from None
    except json.JSONDecodeError as exc:
        raise BadJson("not_json", f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:  # e.g. Python's own limit on integer digits
        raise BadJson("not_json", f"not JSON: {excerpt(str(exc))}") from None
    check_document(document, max_depth)
    return document


def whole_number(value: Any, what: str = "reading", *, booleans: bool = True) -> int:
    """Return a count or counter value as an exact integer of at most 64 bits, or raise RejectedReading.

    Takes an integer, a float with no fraction, or the text (or ASCII bytes) of either. ``booleans``:
    whether True and False count as 1 and 0 (a PLC coil); in a JSON payload ``true`` is not a count.
    """
    if isinstance(value, bool):
        if booleans:
            return int(value)
        raise RejectedReading("not_a_number", f"{what} {excerpt(value)} is not a number")
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str):
        value = _number_in_text(value, what)
    elif not isinstance(value, int | float):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise RejectedReading("not_a_number", f"{what} {excerpt(value)} is not a number") from None
        except OverflowError:
            raise RejectedReading("out_of_range", f"{what} {excerpt(value)} is beyond 64 bits") from None
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RejectedReading("not_a_number", f"{what} {value} is not a finite number")
        if not value.is_integer():
            raise RejectedReading("not_whole", f"{what} {value} is not a whole number")
        value = int(value)
    if not -INT_LIMIT <= value < INT_LIMIT:
        raise RejectedReading("out_of_range", f"{what} {excerpt(value)} is beyond 64 bits")
    return value


def _number_in_text(text: str, what: str) -> int | float:
    """Read the number a text holds (surrounding blanks allowed), exactly when it is an integer."""
    stripped = text.strip()
    if "_" in stripped:  # Python would read 1_000; a device never means that
        raise RejectedReading("not_a_number", f"{what} {excerpt(text)} is not a number")
    digits = stripped.lstrip("+-")
    if len(digits) > _MAX_INT_DIGITS and digits.isdigit():
        raise RejectedReading("out_of_range", f"{what} is a {len(digits)}-digit number, beyond 64 bits")
    try:
        return int(stripped)
    except ValueError:
        pass
    try:
        return float(stripped)
    except ValueError:
        raise RejectedReading("not_a_number", f"{what} {excerpt(text)} is not a number") from None


def instant(value: Any, what: str = "time") -> float:
    """Return epoch seconds from epoch seconds (a number or its text) or ISO 8601 text with a UTC offset.

    Raise RejectedReading (``bad_time``) for anything else; whether the instant is one a shift
    calendar holds, or a believable event time, is the engine's to judge.
    """
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str) and not _looks_numeric(value):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise RejectedReading("bad_time", f"{what} {excerpt(value)} is not ISO 8601") from None
        if parsed.tzinfo is None:
            raise RejectedReading("bad_time", f"{what} {excerpt(value)} has no UTC offset")
        try:
            return parsed.timestamp()
        except (OverflowError, ValueError, OSError):
            raise RejectedReading("bad_time", f"{what} {excerpt(value)} is beyond the calendar") from None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RejectedReading("bad_time", f"{what} {excerpt(value)} is not a time")
    try:
        ts = float(value)
    except OverflowError:
        ts = math.inf
    if not math.isfinite(ts):
        raise RejectedReading("bad_time", f"{what} {excerpt(value)} is not a time")
    return ts


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
