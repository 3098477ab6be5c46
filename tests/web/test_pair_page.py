"""A board page in real Chromium on an active/standby pair (real PostgreSQL, two real `andon serve`): opened on
the standby it lands on the active; when the active is lost, the page moves itself to the new active."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from tests.conftest import wait_until
from tests.core.test_failover import Pair, actual, pair, post  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow


def test_a_page_follows_the_active_server(pair: Pair, page: Any) -> None:  # noqa: F811 - the fixture
    a = pair.start("a")
    wait_until(lambda: pair.role("a") == "active", 30)
    b = pair.start("b")
    wait_until(lambda: pair.role("b") == "standby", 30)

    page.goto(b + "/board/line1?lang=pl")  # the standby sends the browser to the active server
    page.wait_for_selector('body[data-live="up"]', timeout=10_000)
    assert page.url == a + "/board/line1?lang=pl"
    assert page.evaluate("document.documentElement.lang") == "pl"
    assert post(a, "page-1", 3).status_code == 201
    page.wait_for_function("() => document.getElementById('actual').textContent === '3'", timeout=10_000)

    pair.procs["a"].send_signal(signal.SIGKILL)
    pair.procs["a"].wait()
    # Its stream down, the page asks the pair's other server, and goes there once it is active.
    page.wait_for_url(b + "/board/line1?lang=pl", timeout=20_000)
    page.wait_for_selector('body[data-live="up"]', timeout=10_000)
    assert pair.role("b") == "active"
    assert post(b, "page-2", 4).status_code == 201
    page.wait_for_function("() => document.getElementById('actual').textContent === '7'", timeout=10_000)
    assert actual(b) == 7
