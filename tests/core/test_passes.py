"""Work put off to the end of a pass of the event loop: in order, joined by nested passes, none lost to an error."""

from __future__ import annotations

import logging
import threading

import pytest

from andon import passes


def test_outside_a_pass_nothing_is_put_off() -> None:
    ran: list[str] = []
    assert passes.defer(lambda: ran.append("x")) is False
    assert ran == []


def test_put_off_work_runs_at_the_end_in_order_with_what_it_puts_off() -> None:
    ran: list[str] = []

    def first() -> None:
        ran.append("first")
        assert passes.defer(lambda: ran.append("after first")) is True

    assert passes.begin() is True
    assert passes.defer(first) is True
    assert passes.defer(lambda: ran.append("second")) is True
    assert ran == []
    passes.end()
    assert ran == ["first", "second", "after first"]
    assert passes.defer(lambda: ran.append("late")) is False  # the pass is closed


def test_a_pass_inside_a_pass_joins_the_outer_one() -> None:
    ran: list[str] = []
    assert passes.begin() is True
    assert passes.begin() is False  # its opener does not end it
    passes.defer(lambda: ran.append("inner"))
    assert ran == []
    passes.end()
    assert ran == ["inner"]


def test_a_failing_piece_is_logged_and_the_rest_still_runs(caplog: pytest.LogCaptureFixture) -> None:
    ran: list[str] = []
    passes.begin()
    passes.defer(lambda: 1 / 0)  # type: ignore[func-returns-value]
    passes.defer(lambda: ran.append("after"))
    with caplog.at_level(logging.ERROR, logger="andon.passes"):
        passes.end()
    assert ran == ["after"]
    assert "work put off to the end of a pass of the event loop failed" in caplog.text
    assert "ZeroDivisionError" in caplog.text


def test_each_thread_has_its_own_pass() -> None:
    passes.begin()
    seen: list[bool] = []
    thread = threading.Thread(target=lambda: seen.append(passes.defer(lambda: None)))
    thread.start()
    thread.join(5)
    passes.end()
    assert seen == [False]
