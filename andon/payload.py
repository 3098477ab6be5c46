"""Strict JSON for what a peer sends (HTTP bodies, MQTT payloads): refuse what cannot be stored.

Python's ``json`` reads ``NaN``, ``Infinity``, ``1e309`` (as infinity), integers of any size, lone
UTF-16 surrogates (``"\\ud800"``) and NUL characters; none of them can be a count, a time or a
stored text. ``load_json`` refuses each with a short reason and a detail that quotes at most a
short excerpt, so a hostile payload never reaches the engine or the database.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 32  # the deepest body the API takes is three levels; this leaves room and stops bombs
INT_LIMIT = 1 << 63  # integers must fit a 64-bit column
_MAX_INT_DIGITS = 19


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
    raise BadJson("not finite", f"{name} is not a number JSON allows")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadJson("number out of range", f"number {excerpt(text, 40)} is beyond a float's range")
    return value


def _int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise BadJson("number out of range", f"integer of {len(text.lstrip('-'))} digits is beyond 64 bits")
    value = int(text)
    if not -INT_LIMIT <= value < INT_LIMIT:
        raise BadJson("number out of range", f"integer {value} is beyond 64 bits")
    return value


def _where(path: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in path) or "the document"


def check_document(document: Any, max_depth: int = MAX_DEPTH) -> None:
    """Walk a parsed document; raise BadJson for nesting past ``max_depth`` or an unstorable string."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(document, ())]
    while stack:
        node, path = stack.pop()
        if len(path) > max_depth:
            raise BadJson("too deep", f"nested more than {max_depth} levels deep")
        if isinstance(node, str):
            problem = text_problem(node)
            if problem:
                raise BadJson("bad text", f"string {excerpt(node)} at {_where(path)} {problem}")
        elif isinstance(node, dict):
            for key, value in node.items():
                problem = text_problem(key)
                if problem:
                    raise BadJson("bad text", f"key {excerpt(key)} at {_where(path)} {problem}")
                stack.append((value, (*path, key)))
        elif isinstance(node, list):
            stack.extend((value, (*path, i)) for i, value in enumerate(node))


def load_json(data: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """Parse strict JSON, or raise BadJson with a reason and a detail quoting at most a short excerpt."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadJson("not UTF-8", f"byte {exc.start} is not UTF-8") from None
    try:
        document = json.loads(data, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except BadJson:
        raise
    except RecursionError:
        raise BadJson("too deep", f"nested more than {max_depth} levels deep") from None
    except json.JSONDecodeError as exc:
        raise BadJson("not JSON", f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:  # e.g. Python's own limit on integer digits
        raise BadJson("not JSON", f"not JSON: {excerpt(str(exc))}") from None
    check_document(document, max_depth)
    return document
