"""Benchmark the line display at 1920x1080: ms per full redraw, ms per clock update, idle CPU.

Run: python bench/display.py [--idle-seconds 30]. The idle figure runs the real display loop
(SDL's dummy driver, HTTP polling every second, WebSocket listener) against the sample API in a
separate process, so only the display's own CPU time is counted (time.process_time).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pygame  # noqa: E402
from demo_plant import free_port, wait_for_port  # noqa: E402

from display.app import run  # noqa: E402
from display.render import LineBoardRenderer  # noqa: E402
from display.sample import SAMPLE_NOW, sample_board, sample_state  # noqa: E402
from display.view import line_view  # noqa: E402

SIZE = (1920, 1080)
TARGETS = {"full": 8.0, "clock": 1.0, "idle": 2.0}


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


def verdict(value: float, target: float) -> str:
    """Say whether a figure meets its target."""
    return "ok" if value < target else "OVER TARGET"


def main(argv: list[str] | None = None) -> None:
    """Print the display's figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
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
    if args.idle_seconds > 0:
        cpu = idle_cpu(args.idle_seconds)
        print(
            f"idle CPU      {args.idle_seconds:g} s loop: {cpu:.2f} % of one core  "
            f"(target < {TARGETS['idle']:g} %: {verdict(cpu, TARGETS['idle'])})"
        )


if __name__ == "__main__":
    main()
