"""A simulated line: cycles with jitter, occasional stops and a little scrap."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from andon.config.bases import SourceConfigBase
from devices.base import CountSource
from devices.catalog import Driver


class SimulatorSourceConfig(SourceConfigBase):
    """A simulated machine producing parts, for demos and tests."""

    type: Literal["simulator"] = "simulator"
    mode: Literal["increment", "pulse"] = Field("increment", description="increment or pulse (one part per cycle).")
    cycle_seconds: float = Field(55.0, gt=0, description="Mean cycle time.")
    jitter: float = Field(
        0.15, ge=0, le=1, description="Cycle time spread (standard deviation) as a fraction of the mean: 0.15 = 15%."
    )
    stop_chance: float = Field(0.02, ge=0, le=1, description="Chance per cycle of a stop, 0 to 1.")
    stop_seconds: float = Field(300.0, ge=0, description="Mean length of a stop.")
    scrap_rate: float = Field(0.02, ge=0, le=1, description="Fraction of parts that are scrap, 0 to 1.")
    seed: int | None = Field(None, description="Random seed, for a repeatable line.")
    stop_reasons: list[str] = Field(
        default_factory=list,
        description="Reason codes the simulated line names for its stops, picked at random (empty: none).",
    )
    unexplained_share: float = Field(
        0.3, ge=0, le=1, description="Share of stops the simulated line leaves unexplained, 0 to 1.",
    )
    backfill_seconds: float = Field(
        0.0, ge=0, le=7 * 86400,
        description="At start, simulate this much of the past (not before the line's last count), so a demo "
        "started mid-shift shows a shift's worth of history.",
    )


@dataclass(frozen=True)
class Cycle:
    """One simulated cycle: how long it took and whether its part is scrap."""

    seconds: float
    kind: Literal["good", "scrap"]
    stop_reason: str | None = None  # the reason the simulated line names for a stop before this part


class SimulatedLine:
    """The pure model behind the simulator: draws cycles from a seeded random source."""

    def __init__(self, config: SimulatorSourceConfig) -> None:
        self.config = config
        self._random = random.Random(config.seed)

    def next_cycle(self) -> Cycle:
        """Draw the next cycle."""
        c = self.config
        seconds = max(0.1 * c.cycle_seconds, self._random.gauss(c.cycle_seconds, c.jitter * c.cycle_seconds))
        reason = None
        if self._random.random() < c.stop_chance:
            seconds += self._random.expovariate(1.0 / c.stop_seconds) if c.stop_seconds else 0.0
            if c.stop_reasons and self._random.random() >= c.unexplained_share:
                reason = self._random.choice(c.stop_reasons)
        kind: Literal["good", "scrap"] = "scrap" if self._random.random() < c.scrap_rate else "good"
        return Cycle(seconds, kind, reason)


class SimulatorSource(CountSource):
    """Feed a simulated line's parts to the sink as the clock passes."""

    config: SimulatorSourceConfig

    async def run(self) -> None:
        """Produce parts until cancelled."""
        line = SimulatedLine(self.config)
        self.sink.online()
        self._backfill(line)
        while True:
            cycle = line.next_cycle()
            await self.connections.clock.sleep(cycle.seconds)
            now = self.connections.clock.now()
            if self._working(now):
                self.sink.reading(1, ts=now, kind=cycle.kind)
                self._explain(cycle, now)

    def _backfill(self, line: SimulatedLine) -> None:
        if not self.config.backfill_seconds:
            return
        now = self.connections.clock.now()
        last = getattr(self.sink, "last_count_at", lambda: None)()
        t = max(now - self.config.backfill_seconds, last or 0.0)
        while True:
            cycle = line.next_cycle()
            t += cycle.seconds
            if t >= now:
                return
            if self._working(t):
                self.sink.reading(1, ts=t, kind=cycle.kind)
                self._explain(cycle, t)

    def _explain(self, cycle: Cycle, t: float) -> None:
        # The simulated operator names the stop that just ended, as a tablet or a PLC fault code would.
        explain = getattr(self.sink, "stop_reason", None)
        if cycle.stop_reason is not None and explain is not None:
            try:
                explain(cycle.stop_reason, ts=t)
            except Exception as exc:  # a reason the plant refuses never stops the line
                self.reject("stop reason refused", str(exc)[:200])

    def _working(self, t: float) -> bool:
        # The simulated crew stops for breaks and between shifts when the sink knows the calendar.
        working = getattr(self.sink, "working_at", None)
        return True if working is None else bool(working(t))

    def describe(self) -> str:
        """Say what this source simulates."""
        return f"simulator (cycle {self.config.cycle_seconds:g} s)"


DRIVER = Driver("simulator", SimulatorSourceConfig, SimulatorSource)
