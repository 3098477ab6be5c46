"""The one /ws follower (display and edge) against a real WebSocket server on a free port, on a ManualClock.

The server here reads the token only from the first message, as the real API does for a client that
cannot set headers, so a follower that did not send it would never be let in.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve

from andon.clock import ManualClock
from andon.follow import StreamFollower, stream_url
from tests.conftest import free_port

TOKEN = "line-secret"
STATE = {"type": "state", "line": "line1", "state": {"condition": "normal"}}


@pytest.mark.parametrize(
    ("server", "url"),
    [
        ("http://10.0.0.2:8000", "ws://10.0.0.2:8000/ws"),
        ("HTTP://10.0.0.2:8000/", "ws://10.0.0.2:8000/ws"),
        (" https://andon.plant.local/andon/ ", "wss://andon.plant.local/andon/ws"),
    ],
)
def test_stream_url_of_a_server(server: str, url: str) -> None:
    assert stream_url(server) == url


@pytest.mark.parametrize(
    ("server", "says"),
    [
        ("10.0.0.2:8000", "must start with http:// or https://"),
        ("ws://10.0.0.2:8000", "must start with http:// or https://"),
        ("ftp://andon", "must start with http:// or https://"),
        ("http://", "must start with http:// or https:// and name a host"),
        ("http://10.0.0.2:8000/?token=abc", "must not carry a query"),
        ("http://10.0.0.2:8000/#board", "must not carry a query or fragment"),
    ],
)
def test_stream_url_refuses_other_urls(server: str, says: str) -> None:
    with pytest.raises(ValueError, match=f"server URL '{server}' {says}".replace("?", r"\?")):
        stream_url(server)
    with pytest.raises(ValueError, match="server URL"):
        StreamFollower(server, print, clock=ManualClock(0))


class FirstMessageServer:
    """A WebSocket server that lets a client in only after ``{"type": "auth", "token": TOKEN}``, then sends."""

    def __init__(self, port: int, send: list[str | bytes]) -> None:
        self.port = port
        self.send = send
        self.server: Server | None = None
        self.refused = 0

    async def handle(self, ws: ServerConnection) -> None:
        """Check the first message, then send the scripted messages and wait for the client to leave."""
        try:
            first = json.loads(await asyncio.wait_for(ws.recv(), 2))
        except (TimeoutError, ValueError):
            first = None
        if not (isinstance(first, dict) and first.get("type") == "auth" and first.get("token") == TOKEN):
            self.refused += 1
            await ws.close(4401, "reads need a token")
            return
        for message in self.send:
            await ws.send(message)
        await ws.wait_closed()

    async def start(self) -> None:
        """Listen on 127.0.0.1."""
        self.server = await serve(self.handle, "127.0.0.1", self.port)

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait (real time, polling) until ``condition`` holds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run one async test body on a fresh event loop."""
    asyncio.run(test())


def follow(follower: StreamFollower) -> asyncio.Task[None]:
    """Start following on the running loop."""
    return asyncio.create_task(follower.run())


async def stop(task: asyncio.Task[None]) -> None:
    """Cancel a follower and wait for it."""
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_the_token_goes_in_the_first_message_and_messages_reach_the_callback() -> None:
    async def body() -> None:
        got: list[Mapping[str, Any]] = []
        server = FirstMessageServer(free_port(), [json.dumps(STATE), json.dumps({"type": "ping"})])
        await server.start()
        follower = StreamFollower(f"http://127.0.0.1:{server.port}", got.append, clock=ManualClock(0), token=TOKEN)
        task = follow(follower)
        try:
            await until(lambda: len(got) == 2)
            assert got == [STATE, {"type": "ping"}]
            assert (follower.connected, follower.connections, follower.attempts, server.refused) == (True, 1, 1, 0)
            assert follower.headers == {"Authorization": f"Bearer {TOKEN}"}
        finally:
            await stop(task)
            await server.stop()
        assert follower.connected is False

    run(body)


def test_a_refused_token_is_never_connected_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    async def body() -> None:
        clock = ManualClock(1000.0)
        server = FirstMessageServer(free_port(), [json.dumps(STATE)])
        await server.start()
        got: list[Mapping[str, Any]] = []
        follower = StreamFollower(f"http://127.0.0.1:{server.port}", got.append, clock=clock, token="wrong",
                                  meanwhile="polling continues, retrying")
        task = follow(follower)
        try:
            for attempt in range(1, 5):
                await until(lambda: follower.retry_at is not None)
                assert (follower.attempts, server.refused) == (attempt, attempt)
                due = follower.retry_at or 0
                clock.set(due)
                await until(lambda due=due: follower.retry_at != due)  # type: ignore[misc]
            await until(lambda: follower.retry_at is not None)
            assert (got, follower.connections, follower.attempts, server.refused) == ([], 0, 5, 5)
        finally:
            await stop(task)
            await server.stop()

    caplog.set_level(logging.DEBUG, logger="andon.follow")
    run(body)
    faults = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "andon.follow"]
    assert [level for level, _ in faults] == ["ERROR", "DEBUG", "DEBUG", "DEBUG", "DEBUG"]
    assert "server closed the stream (4401 reads need a token); polling continues, retrying" in faults[0][1]


def test_reconnects_with_backoff_on_its_clock_and_logs_fault_and_recovery_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()

    async def body() -> None:
        clock = ManualClock(1000.0)
        got: list[Mapping[str, Any]] = []
        follower = StreamFollower(f"http://127.0.0.1:{port}", got.append, clock=clock, token=TOKEN,
                                  retry_min=0.5, retry_max=4.0)
        task = follow(follower)
        server = FirstMessageServer(port, [json.dumps(STATE)])
        try:
            waits = []
            for _ in range(5):  # nothing listens: each wait doubles, up to retry_max
                await until(lambda: follower.retry_at is not None)
                due = follower.retry_at or 0
                waits.append(due - clock.now())
                await asyncio.sleep(0.05)
                assert follower.retry_at == due  # it waits for the clock, not for real time
                clock.set(due)
                await until(lambda due=due: follower.retry_at != due)  # type: ignore[misc]
            assert waits == [0.5, 1.0, 2.0, 4.0, 4.0]
            await server.start()
            await until(lambda: follower.retry_at is not None)
            clock.set(follower.retry_at or 0)
            await until(lambda: follower.connected)
            assert (got, follower.connections) == ([STATE], 1)
            await server.stop()  # gone again: the first wait is retry_min once more
            await until(lambda: follower.retry_at is not None)
            assert not follower.connected
            assert (follower.retry_at or 0) - clock.now() == 0.5
        finally:
            await stop(task)
            await server.stop()

    caplog.set_level(logging.DEBUG, logger="andon.follow")
    run(body)
    levels = [r.levelname for r in caplog.records if r.name == "andon.follow"]
    # Refused six times before the server listened: one ERROR; up: the recovery and where it follows; gone: ERROR.
    assert levels == ["ERROR", "DEBUG", "DEBUG", "DEBUG", "DEBUG", "DEBUG", "INFO", "INFO", "ERROR"]
    recovered, following = (r.getMessage() for r in caplog.records if r.levelname == "INFO")
    assert "recovered (was: ConnectionRefusedError" in recovered
    assert following == f"following ws://127.0.0.1:{port}/ws"


def test_bad_messages_are_skipped_and_a_failing_callback_does_not_end_the_stream(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def body() -> None:
        got: list[Mapping[str, Any]] = []

        def take(message: Mapping[str, Any]) -> None:
            got.append(message)
            if message.get("boom"):
                raise RuntimeError("handler bug")

        server = FirstMessageServer(free_port(), [
            "not json", "[1, 2]", '{"n": NaN}', '{"x": "\\ud800"}', "[" * 100 + "]" * 100,
            json.dumps({"boom": True}), json.dumps(STATE),
        ])
        await server.start()
        follower = StreamFollower(f"http://127.0.0.1:{server.port}", take, clock=ManualClock(0), token=TOKEN)
        task = follow(follower)
        try:
            await until(lambda: len(got) == 2)
            assert got == [{"boom": True}, STATE]
            assert follower.connected and follower.attempts == 1
        finally:
            await stop(task)
            await server.stop()

    caplog.set_level(logging.DEBUG, logger="andon.follow")
    run(body)
    ignored = [r for r in caplog.records if "ignored a message" in r.getMessage()]
    assert [r.levelname for r in ignored] == ["WARNING", "DEBUG", "DEBUG", "DEBUG", "DEBUG"]  # one WARNING a stream
    assert [r.getMessage().split("ignored a message (", 1)[1] for r in ignored] == [
        "not JSON: Expecting value at line 1 column 1)",
        "not a JSON object: '[1, 2]')",
        "NaN is not a number JSON allows)",
        "string '\\ud800' at x holds a lone UTF-16 surrogate, which is not Unicode text)",
        "nested more than 32 levels deep)",
    ]
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and errors[0].endswith("/ws: handling a message failed")
