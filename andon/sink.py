"""The sink a count or product source of one line delivers to: readings, products and health into the plant."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from andon.plant import Plant


class SourceSink:
    """The ReadingSink of one source of one line."""

    def __init__(self, plant: Plant, line_id: str, source_id: str) -> None:
        self.plant = plant
        self.line_id = line_id
        self.source_id = source_id

    def reading(
        self, value: Any, *, ts: Any = None, event_id: str | None = None, kind: str | None = None,
        on_stored: Callable[[], None] | None = None, reason: str | None = None,
    ) -> None:
        """Deliver one reading to the plant (``reason``: the scrap reason code a scrap count came with)."""
        self.plant.intake(
            self.line_id, self.source_id, value, ts=ts, event_id=event_id, kind=kind, on_stored=on_stored,
            reason=reason,
        )

    def online(self) -> None:
        """Report that the source answers."""
        self.plant.set_source_online(self.line_id, self.source_id, True)

    def stop_reason(self, code: str, ts: Any = None) -> None:
        """Name the reason of the line's stop at ``ts`` (default now), as a device knows it."""
        self.plant.device_reason(self.line_id, code, ts, f"source:{self.source_id}")

    def last_count_at(self) -> float | None:
        """Return the event time of the line's last good count (None before the first)."""
        return self.plant.line(self.line_id).last_count_at

    def working_at(self, t: float) -> bool:
        """Tell whether a simulated crew works at ``t``: in available time of a shift, or waiting for a first count."""
        line = self.plant.line(self.line_id)
        instance = line.calendar.at(t)
        if instance is None:
            return False
        kind = line.plan_for(instance).kind_at(t)
        if kind == "not_scheduled":
            with line.lock:
                return line.timeline.waiting_at(t)
        return kind is None

    def product(
        self, value: Any, *, ts: Any = None, on_stored: Callable[[], None] | None = None,
    ) -> None:
        """Deliver a product reading (a product id, a recipe number mapped by the driver, or a dict with it)."""
        self.plant.product_reading(self.line_id, self.source_id, value, ts=ts, on_stored=on_stored)

    def shifts_between(self, since: float, until: float) -> list[tuple[float, float, str]]:
        """Return (start, end, "date-shift") of the line's shifts overlapping [since, until), in order."""
        line = self.plant.line(self.line_id)
        return [(i.start, i.end, f"{i.date.isoformat()}-{i.shift_id}")
                for i in line.timeline.instances_from(since) if i.start < until]

    def product_since(self) -> float | None:
        """Return when the line's current run started (None before the first)."""
        line = self.plant.line(self.line_id)
        with line.lock:
            current = line.timeline.current()
        return current.start if current is not None else None

    def offline(self, reason: str) -> None:
        """Report that the source does not answer."""
        self.plant.set_source_online(self.line_id, self.source_id, False, reason)
