"""Andon raises and escalations POSTed to a real HTTP webhook: retried with backoff, never blocking."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from andon.clock import ManualClock
from tests.api.api_fixtures import api, config_text
from tests.conftest import wait_until
from tests.core.engine_fixtures import utc


class Hook:
    """A real webhook receiver on a free loopback port: fails the first N posts, can hold requests."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.posts: list[dict[str, Any]] = []
        self.attempts = 0
        self.release = threading.Event()
        self.release.set()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                hook.release.wait(10)
                hook.attempts += 1
                if hook.attempts <= hook.fail_first:
                    self.send_response(503)
                else:
                    hook.posts.append(body)
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    receiver = Hook(fail_first=2)
    yield receiver
    receiver.close()


def with_webhook(url: str) -> str:
    return config_text().replace(
        "      escalation_by_category:", f"      webhook_url: {url}\n      escalation_by_category:"
    )


def test_raise_and_escalation_reach_the_webhook_after_retries(tmp_path: Path, hook: Hook) -> None:
    clock = ManualClock(utc("2026-11-25 07:30"))
    options: dict[str, object] = {"backoff_seconds": 0.05}
    with api(tmp_path, clock, text=with_webhook(hook.url), webhook_options=options) as client:
        call = client.post("/api/andons", json={"line": "line1", "station": "st1", "category": "quality"}).json()
        clock.advance(120)
        client.services.andons.escalate()  # type: ignore[attr-defined]
        sender = client.services.webhooks  # type: ignore[attr-defined]
        # The receiver keeps a post before it answers; the sender counts it delivered once the answer is in.
        wait_until(lambda: len(hook.posts) == 2 and sender.delivered == 2)
        assert (sender.delivered, sender.failed, hook.attempts) == (2, 0, 4)
    assert [(p["event"], p["call"]["id"], p["call"]["tier"]) for p in hook.posts] == [
        ("raised", call["id"], "team_leader"),
        ("escalated", call["id"], "supervisor"),
    ]


def test_a_hanging_webhook_does_not_block_andon_calls(tmp_path: Path) -> None:
    hook = Hook()
    hook.release.clear()  # the receiver holds every request until released
    clock = ManualClock(utc("2026-11-25 07:30"))
    try:
        with api(tmp_path, clock, text=with_webhook(hook.url)) as client:
            for station in ("a", "b", "c"):
                r = client.post("/api/andons", json={"line": "line1", "station": station, "category": "quality"})
                assert r.status_code == 201
            assert hook.posts == []  # nothing delivered yet, yet every raise was answered
            hook.release.set()
            wait_until(lambda: len(hook.posts) == 3)
        assert [p["call"]["station"] for p in hook.posts] == ["a", "b", "c"]
    finally:
        hook.close()


def test_lines_without_a_webhook_send_nothing(tmp_path: Path) -> None:
    hook = Hook()
    clock = ManualClock(utc("2026-11-25 07:30"))
    text = with_webhook(hook.url).replace(
        "    shifts: [early]\n", "    shifts: [early]\n    andon: {{categories: [help]}}\n"
    )
    try:
        with api(tmp_path, clock, text=text) as client:
            client.post("/api/andons", json={"line": "line2", "station": "s", "category": "help"})
            client.post("/api/andons", json={"line": "line1", "station": "s", "category": "quality"})
            wait_until(lambda: hook.attempts >= 1)
        # Events are delivered in order, so line2's would have arrived first had it been sent.
        assert [(p["call"]["line"], p["event"]) for p in hook.posts] == [("line1", "raised")]
    finally:
        hook.close()
