"""The plant page on a wall TV: for 1 to 30 lines the tiles fill the screen, nothing scrolls or is cut."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from andon.clock import ManualClock
from andon.config.loader import parse_config
from andon.runtime import build_services
from tests.servers import RealServer
from tests.web.conftest import ARTIFACTS, NOW, SHIFT_START
from tests.web.test_readable import CLIPPED, settle

NAMES = ["Assembly", "Packing", "Final test and inspection", "Weld", "Paint", "Press"]


def plant_config(count: int, db: str) -> str:
    """A plant of ``count`` lines fed over HTTP, their names of different lengths."""
    lines = "".join(
        f"  - {{id: l{i}, name: {NAMES[i % len(NAMES)]} {i + 1}, takt_seconds: {20 + 10 * (i % 4)}, "
        f"interval_minutes: 60, sources: [{{type: http, id: http}}]}}\n"
        for i in range(count)
    )
    shifts = '  - {id: am, start: "00:00", end: "12:00"}\n  - {id: pm, start: "12:00", end: "00:00"}\n'
    return f"plant: {{name: Wall Plant, timezone: UTC}}\ndatabase: sqlite:///{db}\nshifts:\n{shifts}lines:\n{lines}"


@pytest.fixture
def plant_of(tmp_path: Any) -> Iterator[Any]:
    """Serve a plant of N lines (``plant_of(N)`` returns the server), some ahead, some behind, some with calls."""
    started: list[RealServer] = []

    def serve(count: int) -> RealServer:
        config = parse_config(plant_config(count, str(tmp_path / f"plant{count}.db")))
        services = build_services(config, ManualClock(NOW))
        srv = RealServer(services)
        srv.start()
        started.append(srv)
        with srv.client() as api:
            for i in range(count):
                takt = 20 + 10 * (i % 4)
                made = int(4.5 * 3600 / takt) + (12, -2, -40)[i % 3]
                assert api.post(f"/api/lines/l{i}/counts", json={"count": made, "ts": SHIFT_START + 60,
                                                                 "id": f"w{i}"}).status_code == 201
                if i % 4 == 1:
                    api.post("/api/andons", json={"line": f"l{i}", "station": "st2", "category": "material"})
                    api.post("/api/andons", json={"line": f"l{i}", "station": "st5", "category": "quality"})
        return srv

    gc.collect()
    yield serve
    for srv in started:
        srv.close()


FILL = """() => {
  const tiles = [...document.querySelectorAll('.tile')];
  const rects = tiles.map((t) => t.getBoundingClientRect());
  const area = rects.reduce((s, r) => s + r.width * r.height, 0);
  const grid = document.getElementById('tiles').getBoundingClientRect();
  const overflow = tiles.filter((t) => t.scrollHeight > t.clientHeight + 1 ||
    [...t.children].some((c) => c.scrollWidth > c.clientWidth + 1)).map((t) => t.dataset.line);
  const off = rects.filter((r) => r.left < 0 || r.top < 0 || r.right > innerWidth + 1 ||
    r.bottom > innerHeight + 1).length;
  const ctx = document.createElement('canvas').getContext('2d');
  const caps = tiles.map((t) => {
    const st = getComputedStyle(t.querySelector('.delta b'));
    ctx.font = st.fontWeight + ' ' + st.fontSize + ' ' + st.fontFamily;
    return ctx.measureText('0').actualBoundingBoxAscent;
  });
  return {count: tiles.length, share: area / (innerWidth * innerHeight), overflow, off, gridBottom: grid.bottom,
          scrollH: document.documentElement.scrollHeight, scrollW: document.documentElement.scrollWidth,
          smallestDelta: Math.min(...caps), widths: rects.map((r) => Math.round(r.width))};
}"""


@pytest.mark.parametrize("count", [1, 2, 6, 12, 30])
def test_plant_wall_fills_the_screen(browser: Any, plant_of: Any, count: int) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    server = plant_of(count)
    for w, h in ((1920, 1080), (3840, 2160)) if count in (6, 30) else ((1920, 1080),):
        context = browser.new_context(viewport={"width": w, "height": h})
        try:
            page = context.new_page()
            page.goto(server.url + "/plant")
            settle(page)
            page.wait_for_function(f"document.querySelectorAll('.tile').length === {count}")
            assert page.evaluate("document.documentElement.classList.contains('tv')") is True
            fill = page.evaluate(FILL)
            page.screenshot(path=str(ARTIFACTS / f"plant-wall-{count}-{w}x{h}.png"))
            assert fill["count"] == count
            assert fill["scrollH"] <= h and fill["scrollW"] <= w, fill
            assert fill["off"] == 0 and fill["overflow"] == [], fill
            # Tiles cover most of the screen: all of it but the heading, the gaps and the margins.
            assert fill["share"] >= 0.75, fill
            assert fill["gridBottom"] >= h * 0.97, fill
            assert max(fill["widths"]) - min(fill["widths"]) <= 1  # one grid, tiles of one size
            # The delta, the tile's main figure, stays big: its digits at 30 lines still 5 % of the screen high.
            assert fill["smallestDelta"] >= 0.05 * h, fill
            assert page.evaluate(CLIPPED) == []
        finally:
            context.close()
