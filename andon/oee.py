"""OEE and the loss waterfall of a span, pure and exact: whole milliseconds that add up by construction.

Planned production time = available time (the shift less breaks, planned downtime and not-scheduled
time) less planned stops. Run time = planned production time less unplanned stops that are not small.
A = run / planned production, P = ideal cycle x (good + scrap) / run, Q = good / (good + scrap),
OEE = A x P x Q. The waterfall (planned stops; unplanned stops by category; small stops; slow cycles;
scrap) obeys unplanned + small + slow + scrap = planned production - ideal x good, exactly, except by
``ideal_cycle_excess`` when the ideal cycle is slower than the line ran (the ``ideal_cycle_too_slow`` mark).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from andon.config.losses import UNEXPLAINED
from andon.takt import merge_spans

PLANNED_STOP_KINDS = frozenset({"planned_stop", "changeover"})  # taken out of planned production time
TOO_SLOW = "ideal_cycle_too_slow"


def ms(seconds: float | Fraction) -> int:
    """Return seconds as whole milliseconds (nearest; stop bounds are whole milliseconds already)."""
    if type(seconds) is float:
        return round(seconds * 1000)
    if isinstance(seconds, Fraction):
        return int((seconds * 1000 + Fraction(1, 2)) // 1)
    return round(seconds * 1000)


@dataclass(frozen=True)
class StopPiece:
    """A stop as the arithmetic sees it: where it lies, and what kind of loss it is."""

    start: float
    end: float | None  # None: open, counted up to "now"
    planned: bool = False
    category: str | None = None  # None: unexplained
    small: bool = False
    # Its available seconds from its start to its end (or "now"), within the shift of the span, when the
    # caller knows them already; used when the piece lies whole in the span, to save computing them twice.
    seconds: float | None = None


@dataclass
class SpanLosses:
    """The loss figures of one span in whole milliseconds; spans add with ``+`` (rows into shifts into weeks)."""

    available_ms: int = 0
    planned_stop_ms: int = 0
    unplanned_ms: dict[str, int] = field(default_factory=dict)
    small_stop_ms: int = 0
    good: int = 0
    scrap: int = 0
    ideal_good_ms: int | None = 0  # ideal cycle x good; None: no ideal cycle known
    ideal_scrap_ms: int | None = 0
    started: bool = True

    @property
    def planned_production_ms(self) -> int:
        """Return planned production time."""
        return self.available_ms - self.planned_stop_ms

    @property
    def run_ms(self) -> int:
        """Return run time: planned production time less unplanned stops (small stops stay in)."""
        return self.planned_production_ms - sum(self.unplanned_ms.values())

    @property
    def slow_raw_ms(self) -> int | None:
        """Return run time less small stops less ideal x (good + scrap); negative: the ideal cycle is too slow."""
        if self.ideal_good_ms is None or self.ideal_scrap_ms is None:
            return None
        return self.run_ms - self.small_stop_ms - self.ideal_good_ms - self.ideal_scrap_ms

    def __add__(self, other: SpanLosses) -> SpanLosses:
        """Return the losses of two spans together."""
        unplanned = dict(self.unplanned_ms)
        for key, value in other.unplanned_ms.items():
            unplanned[key] = unplanned.get(key, 0) + value
        return SpanLosses(
            self.available_ms + other.available_ms, self.planned_stop_ms + other.planned_stop_ms, unplanned,
            self.small_stop_ms + other.small_stop_ms, self.good + other.good, self.scrap + other.scrap,
            _add(self.ideal_good_ms, other.ideal_good_ms), _add(self.ideal_scrap_ms, other.ideal_scrap_ms),
            self.started or other.started,
        )

    def figures(self) -> dict[str, Any]:
        """Return {availability, performance, quality, oee} in [0, 1] and the trust marks (null without time)."""
        ppt, run = self.planned_production_ms, self.run_ms
        marks: list[str] = []
        if ppt <= 0:
            return {"availability": None, "performance": None, "quality": None, "oee": None, "marks": marks}
        availability = Fraction(run, ppt)
        parts = self.good + self.scrap
        quality = Fraction(self.good, parts) if parts else None
        performance: Fraction | None = None
        if self.ideal_good_ms is not None and self.ideal_scrap_ms is not None and run > 0:
            performance = Fraction(self.ideal_good_ms + self.ideal_scrap_ms, run)
        slow = self.slow_raw_ms
        if (performance is not None and performance > 1) or (slow is not None and slow < 0):
            marks.append(TOO_SLOW)
        if performance is not None:
            performance = min(performance, Fraction(1))
        if availability == 0:
            oee: Fraction | None = Fraction(0)
        elif performance is None:
            oee = None
        else:
            oee = availability * performance * (quality if quality is not None else 1)
        return {
            "availability": _ratio(availability), "performance": _ratio(performance), "quality": _ratio(quality),
            "oee": _ratio(oee), "marks": marks,
        }

    def waterfall(self) -> dict[str, Any]:
        """Return the loss waterfall in seconds: each bucket, and the figures it adds up to."""
        slow = self.slow_raw_ms
        return {
            "planned_production_seconds": _s(self.planned_production_ms),
            "run_seconds": _s(self.run_ms),
            "planned_stops": _s(self.planned_stop_ms),
            "unplanned": {k: _s(v) for k, v in sorted(self.unplanned_ms.items())},
            "unplanned_total": _s(sum(self.unplanned_ms.values())),
            "small_stops": _s(self.small_stop_ms),
            "slow_cycles": None if slow is None else _s(max(slow, 0)),
            "scrap": None if self.ideal_scrap_ms is None else _s(self.ideal_scrap_ms),
            "ideal_cycle_excess": None if slow is None else _s(max(-slow, 0)),
            "good_seconds": None if self.ideal_good_ms is None else _s(self.ideal_good_ms),
        }

    def as_dict(self) -> dict[str, Any]:
        """Return figures and waterfall together, as boards and the API show them."""
        return {"oee": self.figures(), "losses": self.waterfall(), "good": self.good, "scrap": self.scrap}


def _add(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a + b


def _ratio(value: Fraction | None) -> float | None:
    return None if value is None else round(float(value), 4)


def _s(value: int) -> float:
    return value / 1000


def _subtract(spans: tuple[tuple[float, float], ...], holes: tuple[tuple[float, float], ...]) -> float:
    """Return the measure of spans less their overlap with holes (both merged)."""
    total = sum(b - a for a, b in spans)
    for a, b in spans:
        for c, d in holes:
            lo, hi = max(a, c), min(b, d)
            if hi > lo:
                total -= hi - lo
    return total


def span_losses(
    a: float, b: float, now: float, excluded: Iterable[tuple[float, float, str]],
    available: Callable[[float, float], float], stops: Iterable[StopPiece], good: int, scrap: int,
    ideal_cycle: float | None,
) -> SpanLosses:
    """Return the losses of [a, b) as seen at ``now``.

    ``excluded`` are the plan's excluded spans with their kind; ``available`` is the plan's available time
    (every excluded span taken out); stop pieces do not overlap each other. A stop's seconds in the span
    are its available seconds there, so a stop across a break loses only the time outside it.
    """
    e = min(b, now)
    if e <= a:
        return SpanLosses(started=False, ideal_good_ms=0 if ideal_cycle else None,
                          ideal_scrap_ms=0 if ideal_cycle else None)
    spans = list(excluded)
    planned_raw = [(s, t) for s, t, kind in spans if kind in PLANNED_STOP_KINDS]
    planned_ahead = 0.0
    if planned_raw:  # a planned stop inside a break is not counted twice
        outside = merge_spans([(s, t) for s, t, kind in spans if kind not in PLANNED_STOP_KINDS], a, e)
        planned_ahead = _subtract(merge_spans(planned_raw, a, e), outside)
    plan_available = available(a, e)
    ahead_ms = ms(planned_ahead)
    planned_ms = ahead_ms
    unplanned: dict[str, int] = {}
    small = 0
    for piece in stops:
        lo, hi = max(piece.start, a), min(e if piece.end is None else piece.end, e)
        if hi <= lo:
            continue
        whole = piece.seconds is not None and lo == piece.start and (hi == piece.end or piece.end is None)
        seconds = ms(piece.seconds if whole else available(lo, hi))  # type: ignore[arg-type]
        if seconds <= 0:
            continue
        if piece.planned:
            planned_ms += seconds
        elif piece.small:
            small += seconds
        else:
            key = piece.category or UNEXPLAINED
            unplanned[key] = unplanned.get(key, 0) + seconds
    if ideal_cycle is None:
        ideal_good: int | None = None
        ideal_scrap: int | None = None
    else:
        ideal_good, ideal_scrap = ms(Fraction(ideal_cycle) * good), ms(Fraction(ideal_cycle) * scrap)
    return SpanLosses(ms(plan_available) + ahead_ms, planned_ms, unplanned, small, good, scrap,
                      ideal_good, ideal_scrap)


def total(spans: Iterable[SpanLosses]) -> SpanLosses:
    """Return the losses of several spans together (started ones only)."""
    out = SpanLosses(ideal_good_ms=0, ideal_scrap_ms=0, started=False)
    for span in spans:
        if span.started:
            out = out + span
    return out
