"""Benchmark the line display at 1920x1080: ms per full redraw, ms per clock update, idle CPU, push latency.

Run: python bench/display.py [--idle-seconds 30] [--pushes 20]. The idle figure runs the real
display loop (SDL's dummy driver, HTTP polling every second, WebSocket listener) against the sample
API in a separate process, so only the display's own CPU time is counted (time.process_time). The
push figure runs `andon run config/demo.yaml` as a process and times an andon call raised over the
API until the display's board shows its banner, and its resolve until the banner is gone; the
display polls only once a minute meanwhile, so each banner came by the /ws stream.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
import pygame  # noqa: E402
from demo_plant import demo_config, free_port, start_andon, wait_for_port  # noqa: E402

from andon.clock import SystemClock  # noqa: E402
from display.app import Board, run  # noqa: E402
from display.client import LineClient, Poller  # noqa: E402
from display.live import WebSocketListener  # noqa: E402
from display.palette import andon_colour  # noqa: E402
from display.render import LineBoardRenderer  # noqa: E402
from display.sample import SAMPLE_NOW, sample_board, sample_state  # noqa: E402
from display.view import line_view  # noqa: E402

SIZE = (1920, 1080)
TARGETS = {"full": 8.0, "clock": 1.0, "idle": 2.0, "push": 1000.0}
MATERIAL = andon_colour("material", bright=True)


def time_frames(frames: int) -> tuple[list[float], list[float]]:
    """Return per-frame milliseconds of full redraws and of clock-only updates."""
    surface = pygame.Surface(SIZE)
    renderer = LineBoardRenderer(SIZE, UTC)
    views = [
        line_view(
            "line1",
            sample_state(behind=behind, andons=2),
            sample_board(behind=behind),
            stale=False,
            last_good=SAMPLE_NOW,
            problem=None,
            tz=UTC,
        )
        for behind in (True, False)
    ]
    renderer.draw_full(surface, views[0], SAMPLE_NOW)  # warm the text cache, as a running board is
    renderer.draw_full(surface, views[1], SAMPLE_NOW)
    full: list[float] = []
    for i in range(frames):
        t = time.perf_counter()
        renderer.draw_full(surface, views[i % 2], SAMPLE_NOW)
        full.append((time.perf_counter() - t) * 1000)
    clock: list[float] = []
    for i in range(frames):
        t = time.perf_counter()
        dirty = renderer.draw_clock(surface, SAMPLE_NOW + 1 + i)  # a new second: new clock text
        clock.append((time.perf_counter() - t) * 1000)
        assert dirty == [renderer.layout.clock]
    return full, clock


def idle_cpu(seconds: float, warmup: float = 2.0) -> float:
    """Run the display loop against the sample API; return CPU % of one core after warm-up."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "display.sample", "--port", str(port)],
        cwd=Path(__file__).resolve().parents[1],
    )
    marks: list[tuple[float, float]] = []
    stop = threading.Event()

    def mark() -> None:
        marks.append((time.process_time(), time.monotonic()))
        if len(marks) == 2:
            stop.set()

    timers = [threading.Timer(warmup, mark), threading.Timer(warmup + seconds, mark)]
    try:
        wait_for_port(port)
        for timer in timers:
            timer.start()
        # The loop runs on the main thread, as on the Pi; start-up is left out of the figure.
        run(f"http://127.0.0.1:{port}", "line1", "line", fullscreen=False, size=SIZE, tz=UTC,
            stop=stop)  # fmt: skip
    finally:
        for timer in timers:
            timer.cancel()
        server.terminate()
        server.wait(10)
    (cpu0, wall0), (cpu1, wall1) = marks
    return (cpu1 - cpu0) / (wall1 - wall0) * 100


def banner_shown(board: Board, surface: pygame.Surface, client: LineClient) -> bool:
    """Draw what changed and tell whether the banner is material blue at two inner corners."""
    # Drawn at an even second: the bright half of the banner's flash, so the phase adds no wait.
    board.draw(surface, client.snapshot(), math.floor(time.time() / 2) * 2, 5.0)
    renderer = board.line_renderer
    assert renderer is not None
    box = renderer.layout.banner
    corners = [surface.get_at(xy) for xy in ((box.x + 3, box.y + 3), (box.right - 4, box.bottom - 4))]
    return all((c.r, c.g, c.b) == MATERIAL for c in corners)


def wait_for(board: Board, surface: pygame.Surface, client: LineClient, shown: bool, timeout: float = 30.0) -> float:
    """Draw on each change until the banner is (or is no longer) shown; return the milliseconds it took."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if banner_shown(board, surface, client) == shown:
            return (time.perf_counter() - started) * 1000
        if client.changed.wait(0.005):
            client.changed.clear()
    raise TimeoutError(f"banner {'not shown' if shown else 'still shown'} after {timeout:g} s")


def push_latency(pushes: int) -> tuple[list[float], list[float]]:
    """Return the ms from POST /api/andons to the banner on the board, and from the resolve to its end."""
    shown: list[float] = []
    cleared: list[float] = []
    with tempfile.TemporaryDirectory() as work:
        port = free_port()
        server = start_andon(demo_config(Path(work)), port)
        url = f"http://127.0.0.1:{port}"
        client = LineClient(url, "line1", clock=SystemClock(), stale_after=5.0)
        poller = Poller(client.fetch, interval=60.0, wanted=client.fetch_wanted)
        listener = WebSocketListener(url, client.apply_message)
        board = Board("line", "line1", SIZE, UTC)
        surface = pygame.Surface(SIZE)
        try:
            poller.start()
            listener.start()
            if not listener.wait_connected(10):
                raise RuntimeError("the display did not connect to /ws")
            with httpx.Client(base_url=url, timeout=5) as api:
                for i in range(pushes):
                    wait_for(board, surface, client, shown=False)
                    started = time.perf_counter()
                    call = api.post("/api/andons", json={"line": "line1", "station": f"st{i % 4 + 1}",
                                                         "category": "material"}).json()
                    wait_for(board, surface, client, shown=True)
                    shown.append((time.perf_counter() - started) * 1000)
                    started = time.perf_counter()
                    api.post(f"/api/andons/{call['id']}/resolve", json={})
                    wait_for(board, surface, client, shown=False)
                    cleared.append((time.perf_counter() - started) * 1000)
        finally:
            listener.stop()
            poller.stop()
            client.close()
            server.terminate()
            server.wait(10)
    return shown, cleared


def verdict(value: float, target: float) -> str:
    """Say whether a figure meets its target."""
    return "ok" if value < target else "OVER TARGET"


def main(argv: list[str] | None = None) -> None:
    """Print the display's figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--pushes", type=int, default=20, help="andon calls raised and resolved (0: skip)")
    args = parser.parse_args(argv)
    pygame.font.init()
    full, clock = time_frames(args.frames)
    for name, samples in (("full redraw", full), ("clock update", clock)):
        key = "full" if name == "full redraw" else "clock"
        median = statistics.median(samples)
        p95 = sorted(samples)[int(len(samples) * 0.95)]
        print(
            f"{name:13s} {SIZE[0]}x{SIZE[1]}: median {median:.3f} ms  p95 {p95:.3f} ms  "
            f"(target < {TARGETS[key]:g} ms: {verdict(median, TARGETS[key])})"
        )
    if args.pushes > 0:
        shown, cleared = push_latency(args.pushes)
        for name, samples in (("banner shown", shown), ("banner gone", cleared)):
            median = statistics.median(samples)
            print(
                f"{name:13s} {len(samples)} calls over /ws: median {median:.0f} ms  worst {max(samples):.0f} ms  "
                f"(target < {TARGETS['push']:g} ms: {verdict(median, TARGETS['push'])})"
            )
    if args.idle_seconds > 0:
        cpu = idle_cpu(args.idle_seconds)
        print(
            f"idle CPU      {args.idle_seconds:g} s loop: {cpu:.2f} % of one core  "
            f"(target < {TARGETS['idle']:g} %: {verdict(cpu, TARGETS['idle'])})"
        )


if __name__ == "__main__":
    main()
