"""The display's client against a real HTTP server (uvicorn serving the documented JSON shapes)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import httpx
import pygame
import pytest
import uvicorn

from andon.clock import ManualClock
from display.app import main, run
from display.client import UNREACHABLE, LineClient, PlantClient
from display.live import WebSocketListener
from display.palette import andon_colour, condition_colour
from display.render import LineBoardRenderer
from display.sample import SAMPLE_NOW, SampleData, sample_api, sample_board, sample_state
from display.view import line_view
from tests.conftest import free_port, wait_for_port, wait_until

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "display"


class SampleServer:
    """A real uvicorn server on a free loopback port, serving SampleData; can stop and restart."""

    def __init__(self, data: SampleData) -> None:
        self.data = data
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start serving and wait until the port accepts connections."""
        config = uvicorn.Config(
            sample_api(self.data), host="127.0.0.1", port=self.port, log_level="warning",
            ws="websockets-sansio",
        )  # fmt: skip
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        wait_for_port(self.port)

    def stop(self) -> None:
        """Stop serving and wait for the server thread to end."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            assert not self._thread.is_alive()
        self._server = self._thread = None


@pytest.fixture
def data() -> SampleData:
    """Two lines: line1 behind, line2 ahead; a broken line 'bad'."""
    states = [sample_state("line1", behind=True), sample_state("line2", "Assembly 2", False)]
    data = SampleData(states, {"line1": sample_board("line1"), "line2": sample_board("line2")})
    data.states["bad"] = {"line": "bad", "no": "condition"}
    return data


@pytest.fixture
def server(data: SampleData) -> Iterator[SampleServer]:
    """Run the sample API for one test."""
    srv = SampleServer(data)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def test_client_fetches_state_and_board(server: SampleServer) -> None:
    clock = ManualClock(SAMPLE_NOW)
    client = LineClient(server.url, "line1", clock=clock)
    try:
        assert client.fetch() is True
        snap = client.snapshot()
        assert snap.state == sample_state("line1", behind=True)
        assert snap.board == sample_board("line1")
        assert (snap.last_good, snap.problem, snap.version, client.stale) == (
            SAMPLE_NOW, None, 1, False
        )  # fmt: skip
        clock.advance(1)
        assert client.fetch() is True
        assert (client.snapshot().last_good, client.snapshot().version) == (SAMPLE_NOW + 1, 1)
    finally:
        client.close()


def test_client_goes_stale_and_unreachable_when_the_server_stops(
    server: SampleServer, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(SAMPLE_NOW)
    client = LineClient(server.url, "line1", clock=clock, stale_after=5, timeout=1)
    renderer = LineBoardRenderer((1280, 720), UTC)
    surface = pygame.Surface((1280, 720))

    def frame() -> tuple[int, int, int]:
        snap = client.snapshot()
        view = line_view(
            "line1", snap.state, snap.board, stale=client.stale, last_good=snap.last_good,
            problem=snap.problem, tz=UTC,
        )  # fmt: skip
        renderer.draw(surface, view, clock.now())
        c = surface.get_at((renderer.layout.stale.x + 20, renderer.layout.stale.y + 20))
        return (c.r, c.g, c.b)

    stale = condition_colour("stale")
    try:
        assert client.fetch()
        assert frame() != stale
        server.stop()
        caplog.set_level(logging.DEBUG, logger="display.client")
        for _ in range(3):
            clock.advance(2)
            assert client.fetch() is False
        snap = client.snapshot()
        assert (snap.problem, snap.last_good, client.stale) == (UNREACHABLE, SAMPLE_NOW, True)
        assert snap.state == sample_state("line1", behind=True)  # the last good data is kept
        assert frame() == stale
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        pygame.image.save(surface, str(ARTIFACTS / "client_server_stopped_1280x720.png"))
        levels = [r.levelname for r in caplog.records if r.name == "display.client"]
        assert levels == ["ERROR", "DEBUG", "DEBUG"]
        server.start()  # the same port: the server came back
        clock.advance(1)
        assert client.fetch() is True
        assert (client.snapshot().problem, client.stale) == (None, False)
        assert frame() != stale
        assert [r.levelname for r in caplog.records if r.name == "display.client"][-1] == "INFO"
    finally:
        client.close()


def test_client_goes_stale_on_time_alone(server: SampleServer) -> None:
    clock = ManualClock(SAMPLE_NOW)
    client = LineClient(server.url, "line1", clock=clock, stale_after=5)
    try:
        assert client.fetch()
        clock.advance(5)
        assert client.stale is False
        clock.advance(0.5)
        assert client.stale is True
        assert client.snapshot().problem is None
    finally:
        client.close()


@pytest.mark.parametrize(
    ("line", "problem", "german"),
    [("nope", "LINE nope UNKNOWN TO SERVER", "LINIE nope DEM SERVER UNBEKANNT"),
     ("bad", "BAD DATA FROM SERVER", "UNGÜLTIGE DATEN VOM SERVER")],
)
def test_client_says_what_is_wrong(server: SampleServer, line: str, problem: str, german: str) -> None:
    client = LineClient(server.url, line, clock=ManualClock(SAMPLE_NOW))
    try:
        assert client.fetch() is False
        found = client.snapshot().problem
        assert (str(found), client.snapshot().state, client.stale) == (problem, None, True)
        assert found is not None and found.text("de") == german  # the board says it in its language
    finally:
        client.close()


def test_plant_client_fetches_every_line(server: SampleServer, data: SampleData) -> None:
    del data.states["bad"]
    client = PlantClient(server.url, clock=ManualClock(SAMPLE_NOW))
    try:
        assert client.fetch() is True
        assert [(s["line"], s["delta"]) for s in client.snapshot().states] == [
            ("line1", -14),
            ("line2", 20),
        ]
    finally:
        client.close()


def test_websocket_push_shows_an_andon(server: SampleServer, data: SampleData) -> None:
    """Fetched once, then only the stream can bring the raised call: the banner turns material blue."""
    clock = ManualClock(SAMPLE_NOW)
    client = LineClient(server.url, "line1", clock=clock)
    listener = WebSocketListener(server.url, client.apply_message)
    try:
        assert client.fetch()
        listener.start()
        assert listener.wait_connected(5)
        data.publish("line1", sample_state("line1", behind=True, andons=1))
        wait_until(lambda: bool((client.snapshot().state or {}).get("open_andons")), timeout=10)
        assert client.fetch_wanted.is_set()  # the board's rows are fetched at once
        snap = client.snapshot()
        surface = pygame.Surface((1920, 1080))
        renderer = LineBoardRenderer((1920, 1080), UTC)
        view = line_view("line1", snap.state, snap.board, stale=False, last_good=snap.last_good,
                         problem=None, tz=UTC)  # fmt: skip
        renderer.draw(surface, view, SAMPLE_NOW)
        banner = renderer.layout.banner
        c = surface.get_at((banner.x + 3, banner.y + 3))
        assert (c.r, c.g, c.b) == andon_colour("material", True)
    finally:
        listener.stop()
        client.close()


def test_a_state_pushed_during_a_fetch_is_not_undone_by_it(server: SampleServer, data: SampleData) -> None:
    """A push that lands while a fetch is on its way wins over the state the fetch read before it."""
    clock = ManualClock(SAMPLE_NOW)
    raised = sample_state("line1", behind=True, andons=1)
    resolved = sample_state("line1", behind=True)
    data.publish("line1", raised)
    pushes: list[dict[str, Any]] = []  # the push to land while the next /state reply is in flight

    def land_push(response: httpx.Response) -> None:
        if response.url.path == "/api/lines/line1/state" and pushes:
            assert client.apply_message({"type": "state", "line": "line1", "state": pushes.pop()})

    http = httpx.Client(base_url=server.url, timeout=2, event_hooks={"response": [land_push]})
    client = LineClient(server.url, "line1", clock=clock, http=http)
    try:
        assert client.fetch()
        assert client.snapshot().state == raised
        pushes.append(resolved)  # the call is resolved and pushed after the server read the state
        data.boards["line1"] = {**sample_board("line1"), "shift_target": 1}
        assert client.fetch()
        snap = client.snapshot()
        assert (snap.state, (snap.board or {})["shift_target"]) == (resolved, 1)  # the board still comes
        assert client.fetch_wanted.is_set()  # and the next fetch reads after the push
        data.publish("line1", resolved)
        assert client.fetch() and client.snapshot().state == resolved
        data.states["line1"] = raised  # no push this time: the fetched state is taken
        assert client.fetch() and client.snapshot().state == raised
    finally:
        client.close()

    def land_plant_push(response: httpx.Response) -> None:
        if response.url.path == "/api/lines" and pushes:
            assert plant.apply_message({"type": "state", "line": "line1", "state": pushes.pop()})

    del data.states["bad"]
    plant_http = httpx.Client(base_url=server.url, timeout=2, event_hooks={"response": [land_plant_push]})
    plant = PlantClient(server.url, clock=clock, http=plant_http)

    try:
        assert plant.fetch()
        line2 = data.states["line2"]
        pushes.append(resolved)
        data.states["line2"] = {**line2, "delta": 21}
        assert plant.fetch()
        assert list(plant.snapshot().states) == [resolved, {**line2, "delta": 21}]  # line2 as fetched
    finally:
        plant.close()


def test_snapshot_command_writes_the_board_as_png(server: SampleServer, tmp_path: Path) -> None:
    out = tmp_path / "board.png"
    args = ["--server", server.url, "--line", "line1", "--snapshot", str(out), "--size",
            "1280x720", "--timezone", "UTC"]  # fmt: skip
    assert main(args) == 0
    image = pygame.image.load(str(out))
    assert image.get_size() == (1280, 720)
    delta = LineBoardRenderer((1280, 720), UTC).layout.delta
    c = image.get_at((delta.x + 3, delta.y + 3))
    assert (c.r, c.g, c.b) == condition_colour("abnormal")
    server.stop()
    assert main(args) == 1  # still a PNG, saying the server is unreachable
    c = pygame.image.load(str(out)).get_at((delta.x + 3, delta.y + 3))
    assert (c.r, c.g, c.b) == condition_colour("stale")


def test_run_loop_draws_and_stops(server: SampleServer) -> None:
    stop = threading.Event()
    timer = threading.Timer(1.5, stop.set)
    timer.start()
    try:
        status = run(server.url, "line1", "line", fullscreen=False, size=(1280, 720),
                     tz=UTC, websocket=True, stop=stop)  # fmt: skip
    finally:
        timer.cancel()
    assert status == 0 and stop.is_set()


@pytest.mark.parametrize(
    "argv",
    [["--layout", "line"], ["--line", "l1", "--size", "big"], ["--line", "l1", "--timezone", "Mars/Base"],
     ["--line", "l1", "--server", "10.0.0.2:8000"], ["--line", "l1", "--server", "http://10.0.0.2/?token=x"]],
)
def test_bad_command_lines_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    if "--server" in argv:  # the one rule for a server URL, the edge's too (andon.follow)
        assert "--server: server URL" in capsys.readouterr().err
