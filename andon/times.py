"""Times as the API and the live state write them: ISO 8601 in UTC with its offset.

A module of its own, importing nothing of the product's, so every module can format a time the same way.
"""

from __future__ import annotations

import functools
import math
from datetime import UTC, datetime

YEAR_10000 = 253_402_300_800.0  # epoch seconds of 10000-01-01, past the last a datetime can hold


@functools.lru_cache(maxsize=4096)  # row and shift bounds, last-seen times: the same values come back every state
def iso(t: float | None) -> str | None:
    """Format epoch seconds as ISO 8601 UTC with offset: what ``datetime.fromtimestamp(t, UTC).isoformat()`` gives.

    A live state has new times on every count (its own, the last count's, a source's last read). The whole second
    is formatted once (``_second``); the microseconds are rounded as datetime rounds them (half to even) and added.
    """
    if t is None:
        return None
    if not 0.0 <= t < YEAR_10000:  # before 1970, NaN, infinite, out of range: datetime's own answer or error
        return datetime.fromtimestamp(t, UTC).isoformat()
    fraction, whole = math.modf(t)
    micro, second = round(fraction * 1e6), int(whole)
    if micro == 1_000_000:
        micro, second = 0, second + 1
    return f"{_second(second)}.{micro:06d}+00:00" if micro else f"{_second(second)}+00:00"


@functools.lru_cache(maxsize=512)
def _second(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).isoformat()[:-6]  # without its "+00:00"
