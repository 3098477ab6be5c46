"""Page load time and weight of every web page, from `andon run config/demo.yaml` in headless Chromium.

Run: python bench/pages.py [--loads 10]. Prints the median and worst load time (navigation start to
the load event) and the bytes each page fetches (its own files, and with the API's JSON).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

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


def main() -> int:
    """Start the demo plant, load each page several times, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loads", type=int, default=10, help="loads of each page")
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
                browser.close()
        finally:
            server.terminate()
            server.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
