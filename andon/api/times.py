"""Times written in requests: ISO 8601 with an offset, or epoch seconds."""

from __future__ import annotations

from fastapi import HTTPException

from andon.counting import RejectedReading, parse_instant
from andon.payload import excerpt


def epoch(text: str, what: str) -> float:
    """Return epoch seconds of a time in a request, or a 422 saying what is wrong with it."""
    try:
        return parse_instant(text)
    except RejectedReading as exc:
        raise HTTPException(
            422, f"{what} {excerpt(text)} is not a time (ISO 8601 with offset, or epoch seconds): {exc}"
        ) from None
