"""Loss benchmark: the loss Pareto and the OEE trend of a week of 50 lines, read from the database.

A week of three 8-hour shifts a day on 50 lines: about 2 million count events and 20,000 stops
(gaps in the counts, stored as the stop service stores them), written straight into SQLite.
Then the reports behind GET /api/losses and GET /api/oee (by shift, day and week) are timed in-process,
first and warm, then the plant-wide ones through the HTTP layer (routing, validation, JSON), and a cold plant.

Run: python bench/losses.py [--lines 50]
Target: each under 200 ms.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import insert

from andon.api.app import create_app
from andon.clock import ManualClock
from andon.config.loader import parse_config
from andon.pareto import LossReports
from andon.plant import Plant
from andon.services import services_for
from andon.stops import StopService
from andon.storage.store import Store, open_database
from andon.storage.tables import QUARTER_SECONDS, CountEventRow, CountQuarterRow, ScrapQuarterRow, StopRow

WEEK_START = 1_764_547_200.0  # 2025-12-01 00:00 UTC, a Monday
FIRST, LAST = date(2025, 12, 1), date(2025, 12, 7)
REASONS = ["breakdown", "jam", "tooling", "no_material", "quality_check", "no_operator", None, None]


def config_text(db: Path, lines: int) -> str:
    text = f"""
plant: {{name: Bench, timezone: UTC}}
database: sqlite:///{db}
shifts:
  - {{id: early, start: "06:00", end: "14:00", breaks: [{{start: "09:00", end: "09:15"}}]}}
  - {{id: late, start: "14:00", end: "22:00", breaks: [{{start: "17:00", end: "17:15"}}]}}
  - {{id: night, start: "22:00", end: "06:00", breaks: [{{start: "01:00", end: "01:15"}}]}}
lines:
"""
    for i in range(lines):
        text += (f"  - {{id: line{i}, takt_seconds: 8, ideal_cycle_seconds: 6, "
                 f"thresholds: {{stop_after_seconds: 120}}, sources: [{{type: http, id: http}}]}}\n")
    return text


def fill(store: Store, lines: int, seed: int = 7) -> tuple[int, int]:
    """Write a week of counts with gaps, and the gaps as stops; return (events, stops)."""
    rng = random.Random(seed)
    events = stops = 0
    end = WEEK_START + 7 * 86400
    with store.engine.begin() as conn:
        for i in range(lines):
            line_id = f"line{i}"
            rows, stop_rows = [], []
            t = WEEK_START
            while t < end:
                if rng.random() < 0.01:  # a stop: a gap of 2 to 25 minutes
                    gap = rng.uniform(120, 1500)
                    stop_rows.append({"line_id": line_id, "start": round(t, 3), "end": round(t + gap, 3),
                                      "origin": "detected", "reason": rng.choice(REASONS), "reason_by": "bench",
                                      "note": ""})
                    t += gap
                else:
                    t += rng.uniform(5, 9)
                kind = "scrap" if rng.random() < 0.02 else "good"
                rows.append({"line_id": line_id, "source_id": "http", "ts": round(t, 3), "received_at": t,
                             "count": 1, "kind": kind, "event_id": None, "flags": 0,
                             "reason": "adjustment" if kind == "scrap" else None})
            conn.execute(insert(CountEventRow), rows)
            conn.execute(insert(StopRow), stop_rows)
            quarters: dict[int, list[int]] = {}  # the totals the event writer keeps beside the events
            for r in rows:
                q = quarters.setdefault(int(r["ts"] // QUARTER_SECONDS), [0, 0])
                q[0 if r["kind"] == "good" else 1] += 1
            conn.execute(insert(CountQuarterRow), [{"line_id": line_id, "quarter": k, "good": g, "scrap": sc}
                                                   for k, (g, sc) in quarters.items()])
            conn.execute(insert(ScrapQuarterRow), [{"line_id": line_id, "quarter": k, "reason": "adjustment",
                                                    "parts": sc} for k, (_g, sc) in quarters.items() if sc])
            events += len(rows)
            stops += len(stop_rows)
    return events, stops


def timed(fn: object, repeats: int) -> tuple[float, float]:
    """Return (first call, median of the next calls) in milliseconds."""
    call = fn  # type: ignore[assignment]
    t0 = time.perf_counter()
    call()  # type: ignore[operator]
    first = (time.perf_counter() - t0) * 1000
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()  # type: ignore[operator]
        runs.append((time.perf_counter() - t0) * 1000)
    return first, statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "losses.db"
        config = parse_config(config_text(db, args.lines))
        store = Store(open_database(config.database))
        t0 = time.perf_counter()
        events, stops = fill(store, args.lines)
        print(f"data: {args.lines} lines, one week, {events:,} count events, {stops:,} stops "
              f"(written in {time.perf_counter() - t0:.1f} s)")
        clock = ManualClock(WEEK_START + 7 * 86400 + 3600)
        plant = Plant(config, store, clock)
        reports = LossReports(plant, StopService(plant, store, clock), clock)
        lines = list(plant.lines.values())
        # As `andon serve` does once started: what lives as long as the process stays out of the
        # collector's full passes (without it, one pass over the heap adds 70 ms to a report here).
        gc.collect()
        gc.freeze()
        pareto = reports.pareto(lines, FIRST, LAST, "reason")
        trend = reports.trend(lines, FIRST, LAST, "week")
        figures = trend["periods"][0]["oee"]
        print(f"plant week: OEE {figures['oee']:.3f} (A {figures['availability']:.3f}, P {figures['performance']:.3f},"
              f" Q {figures['quality']:.3f}); top loss {pareto['items'][0]['name']} "
              f"{pareto['items'][0]['minutes']:,.0f} min in {pareto['items'][0]['occurrences']} stops")
        print("timings (ms): first call of a fresh plant, then the median of the next calls; target < 200")
        for label, fn in [
            ("GET /api/losses by reason (plant)", lambda: reports.pareto(lines, FIRST, LAST, "reason")),
            ("GET /api/losses by category", lambda: reports.pareto(lines, FIRST, LAST, "category")),
            ("GET /api/oee by shift (plant)", lambda: reports.trend(lines, FIRST, LAST, "shift")),
            ("GET /api/oee by day", lambda: reports.trend(lines, FIRST, LAST, "day")),
            ("GET /api/oee by week", lambda: reports.trend(lines, FIRST, LAST, "week")),
            ("GET /api/losses one line", lambda: reports.pareto(lines[:1], FIRST, LAST, "reason")),
        ]:
            first, median = timed(fn, args.repeats)
            print(f"  {label:36s} first {first:8.1f}   median {median:8.1f}")
        # The same reports through the HTTP layer (routing, response validation, JSON), in-process.
        services = services_for(plant)
        with TestClient(create_app(services)) as client:
            for label, path in [
                ("HTTP GET /api/losses (plant)", "/api/losses?from=2025-12-01&to=2025-12-07"),
                ("HTTP GET /api/oee?by=shift (plant)", "/api/oee?from=2025-12-01&to=2025-12-07&by=shift"),
            ]:
                def get(path: str = path) -> None:
                    response = client.get(path)
                    assert response.status_code == 200, response.text
                first, median = timed(get, args.repeats)
                print(f"  {label:36s} first {first:8.1f}   median {median:8.1f}")
        fresh = Plant(config, store, clock)
        cold = LossReports(fresh, StopService(fresh, store, clock), clock)
        gc.collect()
        gc.freeze()
        t0 = time.perf_counter()
        cold.pareto(list(fresh.lines.values()), FIRST, LAST, "reason")
        print(f"  cold plant, Pareto + plans built    {(time.perf_counter() - t0) * 1000:8.1f}")
        plant.close()
        fresh.close()
        store.engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
