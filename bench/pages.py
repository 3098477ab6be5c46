"""Page load time and weight of every web page, and how soon a count shows on a live board, in headless Chromium.

Run: python bench/pages.py [--loads 10] [--counts 20] against `andon run config/demo.yaml`. Prints the
median and worst load time (navigation start to the load event), the bytes each page fetches (its
own files, and with the API's JSON), and the time from POST /counts to the new total on an open
board page (pushed over /ws; the page polls only while its stream is down).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from demo_plant import demo_config, free_port, start_andon

REPO = Path(__file__).resolve().parents[1]
PAGES = {"home": "/", "board": "/board/line1", "plant": "/plant", "andon": "/andon?line=line1&station=st1",
         "problems": "/problems", "trends": "/trends"}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
MEASURE = """() => {
  const n = performance.getEntriesByType('navigation')[0];
  const r = performance.getEntriesByType('resource');
  const own = r.filter((e) => e.initiatorType !== 'fetch').reduce((s, e) => s + e.encodedBodySize, 0);
  const all = r.reduce((s, e) => s + e.encodedBodySize, 0);
  return {load: n.loadEventEnd - n.startTime, own: n.encodedBodySize + own, all: n.encodedBodySize + all};
}"""


SHOWN = "want => Number(document.getElementById('actual').textContent) >= want"


def count_to_board(page: Any, port: int, counts: int) -> list[float]:
    """Return the ms from each POST of a count to the board page's total showing it."""
    base = f"http://127.0.0.1:{port}"
    page.goto(f"{base}/board/line1")
    page.wait_for_selector('body[data-live="up"]', timeout=10_000)
    page.wait_for_load_state("networkidle")
    figures = []
    with httpx.Client(base_url=base, timeout=5) as api:
        for _ in range(counts):
            before = int(page.inner_text("#actual"))
            started = time.perf_counter()
            reply = api.post("/api/lines/line1/counts", json={"count": 3, "id": str(uuid.uuid4())})
            reply.raise_for_status()
            # At least: the demo's own simulator may add a part meanwhile.
            page.wait_for_function(SHOWN, arg=before + 3, timeout=30_000, polling="raf")
            figures.append((time.perf_counter() - started) * 1000)
    return figures


def main() -> int:
    """Start the demo plant, load each page several times, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loads", type=int, default=10, help="loads of each page")
    parser.add_argument("--counts", type=int, default=20, help="counts posted to a live board (0: skip)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as work:
        port = free_port()
        server = start_andon(demo_config(Path(work)), port)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(f"http://127.0.0.1:{port}/healthz")
                print(f"{'page':9} {'median ms':>9} {'worst ms':>9} {'own KB':>7} {'with API KB':>11}")
                for name, path in PAGES.items():
                    figures = []
                    for _ in range(args.loads):
                        page.goto(f"http://127.0.0.1:{port}{path}")
                        page.wait_for_load_state("networkidle")
                        figures.append(page.evaluate(MEASURE))
                    loads = [f["load"] for f in figures]
                    print(f"{name:9} {statistics.median(loads):9.1f} {max(loads):9.1f} "
                          f"{figures[-1]['own'] / 1024:7.1f} {figures[-1]['all'] / 1024:11.1f}")
                if args.counts > 0:
                    shown = count_to_board(page, port, args.counts)
                    print(f"count to board: {len(shown)} counts, median {statistics.median(shown):.0f} ms, "
                          f"worst {max(shown):.0f} ms (POST /counts to the total on the page, over /ws)")
                browser.close()
        finally:
            server.terminate()
            server.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
