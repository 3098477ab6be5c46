"""The simulated line: seeded cycles, backfill from the last count, no parts in breaks."""

from __future__ import annotations

import asyncio
from typing import Any

from andon.clock import ManualClock
from devices.connections import Connections
from devices.sources.simulator import SimulatedLine, SimulatorSource, SimulatorSourceConfig
from tests.conftest import RecordingSink
from tests.devices.polling import cancel, idle


class CalendarSink(RecordingSink):
    """A recording sink that knows when the crew works and when the line last counted."""

    def __init__(self, last: float | None, breaks: list[tuple[float, float]]) -> None:
        super().__init__()
        self.last = last
        self.breaks = breaks

    def last_count_at(self) -> float | None:
        return self.last

    def working_at(self, t: float) -> bool:
        return not any(a <= t < b for a, b in self.breaks)


def test_seeded_line_repeats_exactly() -> None:
    config = SimulatorSourceConfig(
        cycle_seconds=30, jitter=0.1, stop_chance=0.2, stop_seconds=100, scrap_rate=0.3, seed=4
    )
    a, b = SimulatedLine(config), SimulatedLine(config)
    cycles = [a.next_cycle() for _ in range(200)]
    assert cycles == [b.next_cycle() for _ in range(200)]
    assert all(c.seconds >= 3.0 for c in cycles)  # never below a tenth of the mean
    scrap = sum(c.kind == "scrap" for c in cycles)
    assert 30 <= scrap <= 90  # about 30 % of 200
    assert max(c.seconds for c in cycles) > 60  # some cycles carry a stop


def run_backfill(config: SimulatorSourceConfig, sink: Any, now: float) -> None:
    """Start the simulator at ``now`` and stop it once it waits for its first live cycle (backfill done)."""

    async def go() -> None:
        clock = ManualClock(now)
        task = asyncio.create_task(SimulatorSource(config, sink, Connections(clock)).run())
        try:
            await idle(clock, task)
        finally:
            await cancel(task)

    asyncio.run(go())


def test_backfill_starts_after_the_last_count_and_skips_breaks() -> None:
    config = SimulatorSourceConfig(
        cycle_seconds=60, jitter=0, stop_chance=0, scrap_rate=0, seed=1, backfill_seconds=3600
    )
    sink = CalendarSink(last=10_000.0 - 1800, breaks=[(10_000.0 - 900, 10_000.0 - 600)])
    run_backfill(config, sink, now=10_000.0)
    times = [r["ts"] for r in sink.readings]
    # From the last count (30 min ago) a part a minute, less the 5 parts due in the 5-minute break.
    assert times == [
        10_000.0 - 1800 + 60 * k for k in range(1, 30) if not 10_000.0 - 900 <= 10_000.0 - 1800 + 60 * k < 9400
    ]
    assert len(times) == 24
    assert sink.events == [("online", "")]


def test_no_backfill_by_default() -> None:
    sink = CalendarSink(last=None, breaks=[])
    run_backfill(SimulatorSourceConfig(cycle_seconds=60, seed=1), sink, now=10_000.0)
    assert sink.readings == []
