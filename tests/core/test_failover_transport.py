"""The clients' transports over several servers against real loopback HTTP servers: the request goes to the
active one, a standby's refusal or a refused connection moves it on, anything else comes back as it is."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from andon import failover
from andon.clock import SystemClock
from andon.follow import StreamFollower, stream_urls
from tests.conftest import free_port


class Peer:
    """A loopback HTTP server answering every request with one status and body; it keeps the paths asked."""

    def __init__(self, status: int, body: dict[str, Any], delay: float = 0.0) -> None:
        self.status, self.body, self.delay = status, body, delay
        self.paths: list[str] = []
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                sent = self.rfile.read(length) if length else b""
                peer.paths.append(f"{self.command} {self.path} {self.headers['Host']} {sent.decode()}".strip())
                time.sleep(peer.delay)
                data = json.dumps(peer.body).encode()
                self.send_response(peer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer  # noqa: N815 (the standard library's names)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


STANDBY = {"detail": "this server (b) is the standby", "role": "standby", "active": None}


@pytest.fixture
def peers() -> Iterator[dict[str, Peer]]:
    made = {"standby": Peer(503, STANDBY), "active": Peer(201, {"status": "counted"}),
            "down": Peer(503, {"status": "storage_down"}), "slow": Peer(201, {"status": "counted"}, delay=1.0)}
    yield made
    for peer in made.values():
        peer.close()


def test_a_request_goes_past_a_dead_server_and_a_standby_to_the_active_one(peers: dict[str, Peer]) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    standby, active = peers["standby"], peers["active"]
    with failover.client([dead, standby.url, active.url], timeout=5) as client:
        reply = client.post("/api/lines/l1/counts", json={"id": "e1", "count": 1})
        assert (reply.status_code, reply.json()) == (201, {"status": "counted"})
        host = active.url.removeprefix("http://")
        assert active.paths == [f'POST /api/lines/l1/counts {host} {{"id":"e1","count":1}}']
        assert standby.paths == ['POST /api/lines/l1/counts ' + standby.url.removeprefix("http://")
                                 + ' {"id":"e1","count":1}']
        # The active one answered: the next request goes straight to it.
        assert client.get("/api/lines").status_code == 201
        assert (len(standby.paths), len(active.paths)) == (1, 2)


def test_an_active_servers_own_503_is_its_answer_not_a_reason_to_move(peers: dict[str, Peer]) -> None:
    down, active = peers["down"], peers["active"]
    with failover.client([down.url, active.url], timeout=5) as client:
        reply = client.post("/api/lines/l1/counts", json={"id": "e1", "count": 1})
        assert (reply.status_code, reply.json()) == (503, {"status": "storage_down"})
        assert active.paths == []


def test_a_request_that_reached_a_server_is_never_sent_to_another(peers: dict[str, Peer]) -> None:
    """A read timeout after the request went out: the count may be recorded there, so it is not sent twice."""
    slow, active = peers["slow"], peers["active"]
    with failover.client([slow.url, active.url], timeout=0.2) as client, pytest.raises(httpx.ReadTimeout):
        client.post("/api/lines/l1/counts", json={"id": "e1", "count": 1})
    assert active.paths == []


def test_every_server_down_is_the_last_ones_error_and_the_standby_alone_is_its_503(peers: dict[str, Peer]) -> None:
    with failover.client([f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"], timeout=2) as c, \
            pytest.raises(httpx.ConnectError):
        c.get("/healthz")
    with failover.client([peers["standby"].url], timeout=2) as client:
        reply = client.get("/api/lines")
        assert (reply.status_code, reply.json()["role"]) == (503, "standby")


def test_a_servers_path_prefix_is_kept_and_the_asyncio_client_follows_too(peers: dict[str, Peer]) -> None:
    standby, active = peers["standby"], peers["active"]

    async def go() -> int:
        async with failover.async_client([standby.url + "/andon/", active.url + "/plant-b"], timeout=5) as client:
            return (await client.get("/api/lines?x=1")).status_code

    assert asyncio.run(go()) == 201
    assert standby.paths[0].startswith("GET /andon/api/lines?x=1 ")
    assert active.paths[0].startswith("GET /plant-b/api/lines?x=1 ")


@pytest.mark.parametrize(("given", "error"), [
    ("", "no server URL given"), (" , ", "no server URL given"),
    ("10.0.0.2:8000", "must start with http:// or https://"), ("http://a:1,ftp://b", "'ftp://b' must start"),
])
def test_a_server_list_is_read_strictly(given: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        failover.servers(given)
    assert failover.servers(" http://a:1/ , https://b ") == ["http://a:1", "https://b"]


def test_the_stream_urls_of_a_pair_follow_the_one_rule_of_each() -> None:
    assert stream_urls(" http://a:1/ , https://b/plant-b") == ["ws://a:1/ws", "wss://b/plant-b/ws"]
    with pytest.raises(ValueError, match="must not carry a query"):
        stream_urls("http://a:1,http://b:2/?token=x")
    with pytest.raises(ValueError, match="'10.0.0.2:8000' must start with http://"):
        stream_urls("http://a:1,10.0.0.2:8000")


def test_the_display_refuses_a_pair_with_a_bad_url(capsys: pytest.CaptureFixture[str]) -> None:
    from display.app import main

    with pytest.raises(SystemExit) as exc:
        main(["--server", "http://a:1,ftp://b", "--line", "line1"])
    assert exc.value.code == 2
    assert "--server: server URL 'ftp://b' must start with http:// or https://" in capsys.readouterr().err


def test_the_stream_follower_takes_each_server_in_turn_even_one_given_twice() -> None:
    """Real refused connections: every attempt goes to the next URL of the list, a repeated one included."""
    dead = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
    tried: list[str] = []

    class Recording(StreamFollower):
        async def _follow(self) -> str:
            tried.append(self.url)
            if len(tried) == 6:
                raise asyncio.CancelledError
            return await super()._follow()

    follower = Recording(f"{dead[0]},{dead[0]},{dead[1]}", lambda _m: None, clock=SystemClock(), retry_min=0.001)
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(follower.run())
    a, b = (u.replace("http", "ws") + "/ws" for u in dead)
    assert tried == [a, a, b, a, a, b]
