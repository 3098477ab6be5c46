"""The state's times are formatted without a datetime per value; the text is datetime's, to the character."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from andon.times import YEAR_10000, iso


def datetimes(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


@settings(max_examples=3000, derandomize=True)
@given(st.floats(min_value=0.0, max_value=YEAR_10000 - 1, allow_nan=False))
@example(1_764_050_400.0)  # a whole second: no fraction shown
@example(1_764_050_400.0000005)  # half a microsecond, as near as a double gets: rounded as datetime rounds
@example(1_764_050_400.9999996)  # rounds up into the next second
@example(1_764_050_459.9999999)  # ... and the next minute
@example(1_767_225_599.9999999)  # ... and the next year (2026-01-01)
@example(0.0000005)
@example(0.5)
@example(2.5e-7)
def test_iso_is_datetimes_isoformat(t: float) -> None:
    assert iso(t) == datetimes(t)


@given(st.integers(min_value=0, max_value=int(YEAR_10000) - 1))
@settings(max_examples=500, derandomize=True)
def test_whole_seconds_given_as_ints(t: int) -> None:
    assert iso(t) == datetimes(t)


def test_values_outside_the_fast_range_are_datetimes_own() -> None:
    assert iso(None) is None
    assert iso(-1.25) == datetimes(-1.25) == "1969-12-31T23:59:58.750000+00:00"
    assert iso(1_764_050_400.25) == "2025-11-25T06:00:00.250000+00:00"
    for bad in (math.nan, math.inf, YEAR_10000):
        with pytest.raises((ValueError, OverflowError)):
            datetimes(bad)
        with pytest.raises((ValueError, OverflowError)):
            iso(bad)
