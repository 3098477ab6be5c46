"""Engine benchmark: events/s through normaliser + engine + batched SQLite writes (100 lines),
board query time for a full shift of one line with 30,000 events, the plan arithmetic and the live
state a board asks for every second, the longest pause of the de-duplication's growth, and `andon run` memory.

Run: python bench/engine.py [--events 200000]
Targets: >= 20,000 events/s on one core; board query < 20 ms; demo RSS < 120 MB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from demo_plant import demo_config, free_port, start_andon

from andon.board import board_dict
from andon.clock import ManualClock
from andon.config.loader import parse_config
from andon.counting import SeenIds
from andon.plant import Plant
from andon.services import services_for
from andon.state import LiveState
from andon.storage.store import Store, open_database

SHIFT_START = 1_764_050_400.0  # 2025-11-25 06:00 UTC, a Tuesday


def plant_config(db: Path, lines: int) -> str:
    text = f"""
plant: {{name: Bench, timezone: UTC}}
database: sqlite:///{db}
shifts:
  - {{id: early, start: "06:00", end: "14:00", breaks: [{{start: "09:00", end: "09:15"}}]}}
lines:
"""
    for i in range(lines):
        text += f"  - {{id: line{i}, takt_seconds: 30, sources: [{{type: http, id: http}}]}}\n"
    return text


def bench_intake(folder: Path, events: int, lines: int = 100) -> None:
    config = parse_config(plant_config(folder / "intake.db", lines))
    clock = ManualClock(SHIFT_START + 8 * 3600 - 1)
    plant = Plant(config, Store(open_database(config.database)), clock)
    line_ids = [f"line{i}" for i in range(lines)]
    for line_id in line_ids:  # load each shift's tallies once, as a running system has
        plant.post_count(line_id, 1, ts=SHIFT_START)
    plant.writer.flush()
    span = 8 * 3600 - 1
    work = [
        (line_ids[i % lines], SHIFT_START + (i * 7919) % span, f"e{i}") for i in range(events)
    ]
    wall0, cpu0 = time.perf_counter(), time.process_time()
    intake = plant.intake
    for line_id, ts, event_id in work:
        intake(line_id, "http", 1, ts=ts, event_id=event_id)
    intake_wall = time.perf_counter() - wall0
    plant.writer.flush(timeout=600)
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    total = sum(plant.line(x).state().actual_to_date for x in line_ids) - lines
    assert total == events, (total, events)
    plant.close()
    print(f"intake: {events} events over {lines} lines (normaliser + engine + batched SQLite WAL writes)")
    print(f"  intake only          {events / intake_wall:10,.0f} events/s")
    print(f"  intake + committed   {events / wall:10,.0f} events/s (wall)")
    print(f"  per CPU-second       {events / cpu:10,.0f} events/s (both threads' CPU time: one-core figure)")


def bench_board(folder: Path, events: int = 30_000, repeats: int = 30) -> None:
    config = parse_config(plant_config(folder / "board.db", 1))
    clock = ManualClock(SHIFT_START + 8 * 3600 - 1)
    plant = Plant(config, Store(open_database(config.database)), clock)
    span = 8 * 3600 - 1
    for i in range(events):
        plant.intake("line0", "http", 1, ts=SHIFT_START + i * span / events, event_id=f"b{i}",
                     kind="scrap" if i % 50 == 0 else "good")
    plant.close()
    cold, warm = [], []
    for _ in range(repeats):
        fresh = Plant(config, Store(open_database(config.database, upgrade=False)), clock)
        line = fresh.line("line0")
        instance = line.calendar.instance("early", line.calendar.local_date(SHIFT_START))
        assert instance is not None
        t0 = time.perf_counter()
        board = board_dict(line, instance, clock.now())
        cold.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        board_dict(line, instance, clock.now())
        warm.append((time.perf_counter() - t0) * 1000)
        fresh.close()
        fresh.store.engine.dispose()
    assert sum(r["actual"] + r["scrap"] for r in board["rows"]) == events
    print(f"board query: one shift of one line with {events} events ({repeats} runs)")
    print(f"  from the database    median {statistics.median(cold):6.2f} ms   max {max(cold):6.2f} ms")
    print(f"  from live tallies    median {statistics.median(warm):6.2f} ms   max {max(warm):6.2f} ms")


def bench_plan(folder: Path, repeats: int = 20_000) -> None:
    """Time ShiftPlan.plan_at at fresh instants, build_rows and LineRuntime.state (the hub's per-second work)."""
    config = parse_config(plant_config(folder / "plan.db", 1))
    clock = ManualClock(SHIFT_START + 5 * 3600 + 17)
    plant = Plant(config, Store(open_database(config.database)), clock)
    line = plant.line("line0")
    instance = line.calendar.at(clock.now())
    assert instance is not None
    plan = line.plan_for(instance)
    instants = [SHIFT_START + (i * 7919.37) % (8 * 3600) for i in range(repeats)]
    t0 = time.perf_counter()
    for t in instants:
        plan.plan_at(t)
    plan_us = (time.perf_counter() - t0) / repeats * 1e6
    t0 = time.perf_counter()
    for _ in range(1000):
        line.plan_for(instance).__class__(instance, line.target_for(instance), ())
    build_us = (time.perf_counter() - t0) / 1000 * 1e6
    t0 = time.perf_counter()
    for i in range(2000):
        line.state(clock.now() + i * 0.5)
    state_us = (time.perf_counter() - t0) / 2000 * 1e6
    live_us = bench_live_state(plant, clock)
    plant.close()
    print("plan arithmetic (one line, takt 30 s, one break)")
    print(f"  plan_at, new instant {plan_us:10.2f} us")
    print(f"  ShiftPlan built      {build_us:10.2f} us")
    print(f"  line state           {state_us:10.2f} us")
    print(f"  live state, as sent  {live_us:10.2f} us (a count, then the hub's state: stops, andon calls, JSON)")
    bench_product_plan(folder, repeats)


def bench_live_state(plant: Plant, clock: ManualClock, repeats: int = 5000) -> float:
    """Time what the live hub does per count on a busy line: tally one, make the state, compare and encode it."""
    states = services_for(plant).states
    t0 = time.perf_counter()
    for i in range(repeats):
        clock.advance(0.01)
        plant.intake("line0", "http", 1, ts=clock.now(), event_id=f"live{i}")
        state = LiveState(states.document("line0"))  # as the hub makes it
        state.visible()
        state.encoded()
    elapsed = (time.perf_counter() - t0) / repeats * 1e6
    plant.writer.flush()
    assert states.of("line0").actual_to_date == repeats
    return elapsed


PRODUCTS = """
products:
  - {id: A, takt_seconds: 30, ideal_cycle_seconds: 25}
  - {id: B, takt_seconds: 45, ideal_cycle_seconds: 40}
"""


def bench_product_plan(folder: Path, repeats: int) -> None:
    """The same figures for a line with two products, two changeovers and a work order with progress."""
    from andon.services import services_for

    text = plant_config(folder / "products.db", 1).replace(
        "takt_seconds: 30, sources",
        "products: [A, B], changeover: {target_minutes: 15}, sources",
    ) + PRODUCTS
    config = parse_config(text)
    clock = ManualClock(SHIFT_START)
    plant = Plant(config, Store(open_database(config.database)), clock)
    services = services_for(plant)
    services.orders.create("WO-1", "line0", "A", 900, None, "bench")
    services.orders.start("WO-1", None, "bench")
    clock.set(SHIFT_START + 5 * 3600 + 17)
    for i in range(600):
        plant.intake("line0", "http", 1, ts=SHIFT_START + 30 * i + 3, event_id=f"p{i}")
    services.products.set_product("line0", "B", at=SHIFT_START + 2 * 3600)
    services.products.set_product("line0", "A", at=SHIFT_START + 4 * 3600, work_order="WO-1")
    line = plant.line("line0")
    instance = line.calendar.at(clock.now())
    assert instance is not None
    plan = line.plan_for(instance)
    instants = [SHIFT_START + (i * 7919.37) % (8 * 3600) for i in range(repeats)]
    t0 = time.perf_counter()
    for t in instants:
        plan.plan_at(t)
    plan_us = (time.perf_counter() - t0) / repeats * 1e6
    t0 = time.perf_counter()
    for _ in range(1000):
        line.forget_plans()
        line.plan_for(instance)
    build_us = (time.perf_counter() - t0) / 1000 * 1e6
    t0 = time.perf_counter()
    for i in range(2000):
        line.state(clock.now() + i * 0.5)
    state_us = (time.perf_counter() - t0) / 2000 * 1e6
    assert line.state().work_order is not None
    plant.close()
    print("plan arithmetic (one line, two products, two changeovers, a work order)")
    print(f"  plan_at, new instant {plan_us:10.2f} us")
    print(f"  ShiftPlan built      {build_us:10.2f} us (with its runs, changeovers and downtime, cached)")
    print(f"  line state           {state_us:10.2f} us (with product, work order and expected finish)")


def bench_seen_ids(ids: int = 1_400_000, lines: int = 10) -> None:
    """Time each id remembered by the lines' de-duplication, fed round-robin: its longest add stalls the plant."""
    seen = [SeenIds() for _ in range(lines)]
    keys = [SeenIds.digest(f"L{i % lines}-{i}") for i in range(ids)]
    times = []
    clock = time.perf_counter
    for i, key in enumerate(keys):
        t0 = clock()
        seen[i % lines].add(key)
        times.append(clock() - t0)
    times.sort()
    print(f"seen ids: {ids:,} ids over {lines} lines, round-robin (each line's table grows to {ids // lines:,})")
    print(f"  add, median          {times[ids // 2] * 1e6:10.2f} us")
    print(f"  add, longest         {times[-1] * 1e3:10.2f} ms (a growth)")
    print(f"  adds over 1 ms       {sum(t > 1e-3 for t in times):10d}")


def bench_memory(folder: Path, seconds: float = 20.0) -> None:
    port = free_port()
    proc = start_andon(demo_config(folder), port)
    try:
        peak = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            httpx.get(f"http://127.0.0.1:{port}/api/lines/line1/board", timeout=5)
            httpx.post(f"http://127.0.0.1:{port}/api/lines/line1/counts", json={"count": 1}, timeout=5)
            status = Path(f"/proc/{proc.pid}/status").read_text()
            rss = int(next(x for x in status.splitlines() if x.startswith("VmRSS")).split()[1])
            peak = max(peak, rss)
            time.sleep(0.1)
        print(f"memory: `andon run config/demo.yaml` peak RSS over {seconds:.0f} s of use: {peak / 1024:.1f} MB")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--memory-seconds", type=float, default=20.0)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="andon-bench-"))
    try:
        print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
        bench_intake(folder, args.events)
        bench_board(folder)
        bench_plan(folder)
        bench_seen_ids()
        bench_memory(folder, args.memory_seconds)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
