"""Pages on a plant whose reads need a token (auth.public_read false), in real headless Chromium.

The HTML stays open (it holds no plant data); every data call carries the device's token in the
Authorization header, and the live stream gets it as its first message: no URL ever holds it.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from andon.clock import ManualClock
from andon.config.loader import parse_config
from andon.runtime import build_services
from tests.conftest import wait_until
from tests.servers import RealServer
from tests.web.conftest import CONFIG, NOW, OPERATOR_TOKEN, SUPERVISOR_TOKEN, _sha


@pytest.fixture(scope="module")
def closed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    """The app `andon run` builds, with reads closed."""
    work = tmp_path_factory.mktemp("closed")
    text = CONFIG.replace("public_read: true", "public_read: false")
    config = parse_config(text.format(db=work / "andon.db", operator=_sha(OPERATOR_TOKEN),
                                      supervisor=_sha(SUPERVISOR_TOKEN)))
    services = build_services(config, ManualClock(NOW))
    srv = RealServer(services, tick_seconds=0.2)
    gc.collect()
    switch = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        sys.setswitchinterval(switch)
        services.plant.close()
        services.store.engine.dispose()


def test_board_asks_for_the_token_once_then_reads_and_follows_live(closed_server: RealServer, page: Any) -> None:
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.on("websocket", lambda ws: urls.append(ws.url))
    page.goto(closed_server.url + "/board/line1")
    page.wait_for_selector("#token-dialog[open]", timeout=5000)
    assert page.locator("#token-dialog[open]").count() == 1  # several refused reads, one dialog
    page.fill('#token-dialog input[name="token"]', OPERATOR_TOKEN)
    page.click('#token-dialog button[value="save"]')
    page.wait_for_selector("tr.row", timeout=5000)
    page.wait_for_selector('body[data-live="up"]', timeout=5000)
    before = int(page.inner_text("#actual"))
    hub = closed_server.services.hub
    wait_until(lambda: hub.clients == 1)  # the stream took the token from the first message
    with closed_server.client(OPERATOR_TOKEN) as api:
        assert api.post("/api/lines/line1/counts", json={"count": 4}).status_code == 201
    # Only a pushed state (the stream took the token) or a refresh it triggers can show it this soon.
    page.wait_for_function("want => document.getElementById('actual').textContent === String(want)",
                           arg=before + 4, timeout=3000)
    assert any(u.endswith("/ws") for u in urls)
    assert all(OPERATOR_TOKEN not in u and "token=" not in u for u in urls), urls
