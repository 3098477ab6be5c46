"""A simulated production plan: the product (and work order) a simulated line runs, changed at set minutes of
every shift, for demos. A real line's product comes from the API, the tablet, MQTT or a PLC."""

from __future__ import annotations

import asyncio
from typing import ClassVar, Literal

from pydantic import Field

from andon.config.bases import SourceConfigBase, StrictModel
from devices.base import CountSource
from devices.catalog import Driver
from devices.product_source import hand_over


class PlannedRun(StrictModel):
    """One step of the simulated plan: from this minute of each shift, make this product."""

    product: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Product id the line changes to.")
    after_minutes: float = Field(ge=0, le=1440, description="Minutes after the shift's start.")
    quantity: int | None = Field(
        None, ge=1, le=10_000_000, description="Make it as a work order of this quantity (id: order_prefix, "
        "shift and step), created when the step starts.",
    )


class ProductSimulatorConfig(SourceConfigBase):
    """A simulated plan changing the product at set minutes of every shift (list it before the line's simulator)."""

    type: Literal["product_simulator"] = "product_simulator"
    role: Literal["count", "run_signal", "fault_code", "product"] = Field(
        "product", description="product: this source selects the product; it counts no parts.")
    selects_product: ClassVar[bool] = True
    sequence: list[PlannedRun] = Field(min_length=1, description="The plan of each shift, in any order.")
    order_prefix: str = Field("SIM-", pattern=r"^[A-Za-z0-9_.:-]{0,20}$",
                              description="Prefix of the work order ids of steps with a quantity.")
    backfill_seconds: float = Field(
        0.0, ge=0, le=7 * 86400,
        description="At start, apply this much of the past plan too (from the line's current run on), so a demo "
        "started mid-shift shows the shift's runs; the simulator's own backfill should match it.",
    )
    poll_seconds: float = Field(5.0, gt=0, le=3600, description="How often to look for the next step.")


class ProductSimulator(CountSource):
    """Change the simulated line's product as its plan says, past steps first."""

    config: ProductSimulatorConfig

    async def run(self) -> None:
        """Follow the plan until cancelled."""
        self.sink.online()
        now = self.connections.clock.now()
        since = now - max(self.config.backfill_seconds, 0.0)
        steps = self._steps(since - 86400, now)
        done = [s for s in steps if s[0] <= since]
        todo = [s for s in steps if s[0] > since]
        if done and (not todo or todo[0][0] > since):
            # The step in force at the start, whatever the backfill, set from the backfill's start: counts
            # begin there, and a run placed at its own earlier start made the line look stopped from then on.
            todo.insert(0, (since, *done[-1][1:]))
        last = now
        while True:
            started = getattr(self.sink, "product_since", lambda: None)()
            for at, product, order, quantity in todo:
                if started is not None and at <= started:
                    continue
                value: dict[str, object] = {"product": product}
                if order is not None:
                    value.update(work_order=order, quantity=quantity)
                hand_over(self, value, ts=min(at, self.connections.clock.now()))
            await asyncio.sleep(self.config.poll_seconds)
            now = self.connections.clock.now()
            todo = [s for s in self._steps(last, now) if s[0] > last]
            last = now

    def _steps(self, since: float, until: float) -> list[tuple[float, str, str | None, int | None]]:
        """Return the plan's steps in (since, until]: (time, product, work order, quantity), in time order."""
        shifts = getattr(self.sink, "shifts_between", None)
        if shifts is None:
            return []
        out = []
        for start, end, key in shifts(since - 86400, until):
            for index, step in enumerate(sorted(self.config.sequence, key=lambda s: s.after_minutes)):
                at = start + step.after_minutes * 60
                if since < at <= until and at < end:
                    order = f"{self.config.order_prefix}{key}-{index + 1}" if step.quantity else None
                    out.append((at, step.product, order, step.quantity))
        return sorted(out)

    def describe(self) -> str:
        """Say what this source simulates."""
        return f"product plan ({len(self.config.sequence)} step(s) a shift)"


DRIVER = Driver("product_simulator", ProductSimulatorConfig, ProductSimulator)
