"""Stop detection and the OEE arithmetic, with exact numbers worked out by hand."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from andon.losses import CountStops, count_stops, cut_stops, merge_stops, signal_stops, stop_pieces
from andon.oee import TOO_SLOW, StopPiece, span_losses, total
from andon.takt import ShiftPlan, Target
from tests.core.engine_fixtures import instance, shift, utc

DAY = date(2026, 11, 25)
T = utc("2026-11-25 06:00")
MIN = 60.0


def plan_06_08(planned_stops: list[tuple[float, float]] | None = None) -> ShiftPlan:
    """06:00-08:00 with a break 07:00-07:10, takt 60 s."""
    inst = instance(shift("06:00", "08:00", ("07:00", "07:10")), DAY)
    return ShiftPlan(inst, Target(takt_seconds=60), spans=[(a, b, "planned_stop") for a, b in planned_stops or []])


def at(hhmm: str) -> float:
    return utc(f"2026-11-25 {hhmm}")


def test_count_stops_start_at_the_last_count_and_end_at_the_next() -> None:
    plan = plan_06_08()
    times = [at("06:01"), at("06:02"), at("06:10"), at("06:11"), at("06:55"), at("07:12")]
    # Gaps of available time: 06:00-06:01 60 s, 06:02-06:10 480 s (stop), 06:11-06:55 (stop),
    # 06:55-07:12 = 5 min + 2 min after the break = 420 s (stop), 07:12-now(07:13) 60 s.
    assert count_stops(times, plan.instance.start, plan.instance.end, at("07:13"), plan.available_between, 180) == [
        (at("06:02"), at("06:10")), (at("06:11"), at("06:55")), (at("06:55"), at("07:12")),
    ]
    # At 07:20 the silence since 07:12 is 8 min: an open stop.
    assert count_stops(times, plan.instance.start, plan.instance.end, at("07:20"), plan.available_between, 180)[-1] \
        == (at("07:12"), None)
    # After the shift, the tail closes at the shift end.
    assert count_stops(times, plan.instance.start, plan.instance.end, at("09:00"), plan.available_between, 180)[-1] \
        == (at("07:12"), at("08:00"))


def test_a_gap_across_a_break_is_measured_in_available_time() -> None:
    plan = plan_06_08()
    # 06:59:00 to 07:11:30: 60 s before the break + 90 s after = 150 s < 180: no stop.
    times = [at("06:59"), at("07:11") + 30]
    assert count_stops(times, plan.instance.start, plan.instance.end, times[-1], plan.available_between, 180) == [
        (plan.instance.start, at("06:59"))]


def test_a_late_count_cuts_a_stop_and_may_leave_a_small_piece_out() -> None:
    plan = plan_06_08()
    tracker = CountStops(plan.instance.start, plan.instance.end, plan.available_between, 180,
                         [at("06:01"), at("06:30")])
    assert tracker.stops(at("06:31")) == [(at("06:01"), at("06:30"))]
    assert tracker.count(at("06:02")) is True  # 06:01-06:02 is no stop any more; 06:02-06:30 is
    assert tracker.stops(at("06:31")) == [(at("06:02"), at("06:30"))]
    assert tracker.count(at("06:40")) is True  # 06:30-06:40 is a new stop
    assert tracker.count(at("06:41")) is False


def test_run_signal_stops_merge_with_count_stops() -> None:
    changes = [(at("06:20"), "plc", False), (at("06:25"), "plc", True), (at("06:40"), "plc", False)]
    sig = signal_stops({"plc": True}, changes, at("06:00"), at("08:00"), at("06:50"))
    assert sig == [(at("06:20"), at("06:25")), (at("06:40"), None)]
    counted = [(at("06:18"), at("06:22")), (at("06:30"), at("06:34"))]
    assert merge_stops(counted, sig) == [(at("06:18"), at("06:25")), (at("06:30"), at("06:34")), (at("06:40"), None)]
    # Two count stops that touch at a count stay two stops.
    assert merge_stops([(1.0, 2.0), (2.0, 3.0)]) == [(1.0, 2.0), (2.0, 3.0)]


def test_a_split_cuts_a_stop_and_an_empty_piece_in_a_break_is_dropped() -> None:
    plan = plan_06_08()
    assert cut_stops([(at("06:10"), at("06:40")), (at("06:50"), None)], [at("06:20"), at("06:55"), at("06:45")]) == [
        (at("06:10"), at("06:20")), (at("06:20"), at("06:40")), (at("06:50"), at("06:55")), (at("06:55"), None)]
    assert stop_pieces([], [(at("07:01"), at("07:09"))], [], plan.available_between) == []


# --- the exact table ------------------------------------------------------------------------------
# Shift 06:00-08:00, break 07:00-07:10, a meeting entered ahead 06:00-06:10, ideal cycle 50 s.
# Row 1 (06:00-07:00): breakdown 06:20-06:35 (900 s), small stop 06:40-06:44 (240 s), 32 good, 2 scrap.
# Row 2 (07:00-08:00): unexplained 07:05-07:20 (600 s outside the break), a stop given the planned reason
# "meeting" 07:40-07:45 (300 s), 37 good, 0 scrap.
STOPS = [
    StopPiece(at("06:20"), at("06:35"), category="breakdown"),
    StopPiece(at("06:40"), at("06:44"), small=True),
    StopPiece(at("07:05"), at("07:20")),
    StopPiece(at("07:40"), at("07:45"), planned=True, category="meeting"),
]


def test_every_figure_of_a_shift_equals_the_hand_computed_one() -> None:
    plan = plan_06_08([(at("06:00"), at("06:10"))])
    now = at("09:00")
    rows = [
        span_losses(at("06:00"), at("07:00"), now, plan.excluded_spans(), plan.available_between, STOPS, 32, 2, 50),
        span_losses(at("07:00"), at("08:00"), now, plan.excluded_spans(), plan.available_between, STOPS, 37, 0, 50),
    ]
    shift_total = total(rows)
    # Row 1: available 3600; planned stops 600 (the meeting) -> planned production 3000; unplanned 900 -> run 2100.
    # ideal x good = 50 x 32 = 1600, ideal x scrap = 100; slow = 2100 - 240 - 1600 - 100 = 160.
    # A = 2100/3000 = 0.7; P = 1700/2100 = 0.80952; Q = 32/34 = 0.94118; OEE = 1600/3000 = 0.53333.
    # Waterfall: 900 + 240 + 160 + 100 = 1400 = 3000 - 1600.
    # Row 2: available 3600 - 600 (break) = 3000; planned 300 -> 2700; unplanned 600 -> run 2100.
    # ideal x good = 1850; slow = 2100 - 0 - 1850 = 250. A = 2100/2700 = 0.77778; P = 1850/2100 = 0.88095;
    # Q = 1; OEE = 1850/2700 = 0.68519. Waterfall: 600 + 0 + 250 + 0 = 850 = 2700 - 1850.
    # Shift: planned production 5700, run 4200; A = 0.73684, P = 3550/4200 = 0.84524, Q = 69/71 = 0.97183,
    # OEE = 3450/5700 = 0.60526; slow 410; planned stops 900.
    expected = [
        (3000, 2100, 600, {"breakdown": 900}, 240, 160, 100, 0.7, 0.8095, 0.9412, 0.5333),
        (2700, 2100, 300, {"unexplained": 600}, 0, 250, 0, 0.7778, 0.881, 1.0, 0.6852),
        (5700, 4200, 900, {"breakdown": 900, "unexplained": 600}, 240, 410, 100, 0.7368, 0.8452, 0.9718, 0.6053),
    ]
    for losses, (ppt, run, planned, unplanned, small, slow, scrap, a, p, q, oee) in zip(
            [*rows, shift_total], expected, strict=True):
        w, f = losses.waterfall(), losses.figures()
        assert (w["planned_production_seconds"], w["run_seconds"], w["planned_stops"], w["unplanned"],
                w["small_stops"], w["slow_cycles"], w["scrap"], w["ideal_cycle_excess"]) == (
            ppt, run, planned, unplanned, small, slow, scrap, 0)
        assert (f["availability"], f["performance"], f["quality"], f["oee"], f["marks"]) == (a, p, q, oee, [])
        assert w["unplanned_total"] + w["small_stops"] + w["slow_cycles"] + w["scrap"] == ppt - w["good_seconds"]


def test_an_ideal_cycle_slower_than_the_line_caps_performance_and_marks_the_span() -> None:
    plan = plan_06_08()
    # 06:00-07:00, no stops, 80 good at an ideal of 50 s: 4000 s of ideal time in 3600 s of run time.
    losses = span_losses(at("06:00"), at("07:00"), at("07:00"), plan.excluded_spans(), plan.available_between,
                         [], 80, 0, 50)
    assert losses.figures() == {"availability": 1.0, "performance": 1.0, "quality": 1.0, "oee": 1.0,
                                "marks": [TOO_SLOW]}
    assert (losses.waterfall()["slow_cycles"], losses.waterfall()["ideal_cycle_excess"]) == (0, 400)


def test_no_planned_production_time_gives_null_figures_not_zero() -> None:
    plan = plan_06_08()
    losses = span_losses(at("07:00"), at("07:10"), at("09:00"), plan.excluded_spans(), plan.available_between,
                         [], 0, 0, 50)
    assert losses.figures() == {"availability": None, "performance": None, "quality": None, "oee": None,
                                "marks": []}


# --- properties ---------------------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(
    gaps=st.lists(st.integers(1, 900), min_size=0, max_size=60),
    scrap=st.integers(0, 20),
    ideal=st.sampled_from([None, 20.0, 45.5, 60.0, 200.0]),
    small_limit=st.sampled_from([0, 200, 300, 1000]),
    now_offset=st.integers(0, 3 * 3600),
    planned=st.booleans(),
)
def test_losses_always_add_up(
    gaps: list[int], scrap: int, ideal: float | None, small_limit: int, now_offset: int, planned: bool,
) -> None:
    plan = plan_06_08([(at("06:30"), at("06:40"))] if planned else [])
    start, end = plan.instance.start, plan.instance.end
    times, t = [], start
    for gap in gaps:
        t += gap
        times.append(t)
    now = start + now_offset
    pieces = stop_pieces(count_stops(times, start, end, now, plan.available_between, 180), [], [],
                         plan.available_between)
    stops = [StopPiece(s, e, small=plan.available_between(s, now if e is None else e) < small_limit,
                       planned=i % 4 == 3, category=None if i % 2 else "breakdown")
             for i, (s, e) in enumerate(pieces)]
    good_by_row = [sum(1 for x in times if r0 <= x < r1 and x <= now) for r0, r1 in plan.interval_bounds(3600)]
    rows = [span_losses(r0, r1, now, plan.excluded_spans(), plan.available_between, stops, g, scrap, ideal)
            for (r0, r1), g in zip(plan.interval_bounds(3600), good_by_row, strict=True)]
    shift_total = total(rows)
    whole = span_losses(start, end, now, plan.excluded_spans(), plan.available_between, stops, sum(good_by_row),
                        scrap * sum(1 for r in rows if r.started), ideal)
    for losses in [*rows, shift_total]:
        if not losses.started:
            continue
        stopped = sum(losses.unplanned_ms.values())
        assert losses.run_ms + stopped == losses.planned_production_ms  # run time + stop time = planned production
        figures = losses.figures()
        for key in ("availability", "performance", "quality", "oee"):
            assert figures[key] is None or 0 <= figures[key] <= 1
        if ideal is not None and losses.slow_raw_ms is not None:
            slow = max(losses.slow_raw_ms, 0)
            excess = max(-losses.slow_raw_ms, 0)
            assert stopped + losses.small_stop_ms + slow + losses.ideal_scrap_ms - excess == \
                losses.planned_production_ms - losses.ideal_good_ms
    # The shift's figures are its rows' sum, and equal the shift taken as one span.
    assert (shift_total.available_ms, shift_total.planned_stop_ms, shift_total.unplanned_ms,
            shift_total.small_stop_ms) == (whole.available_ms, whole.planned_stop_ms,
                                           {k: v for k, v in whole.unplanned_ms.items()}, whole.small_stop_ms)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 7199), min_size=0, max_size=80), st.integers(0, 8000))
def test_counting_one_at_a_time_in_any_order_equals_the_reference(offsets: list[int], now_offset: int) -> None:
    plan = plan_06_08()
    start, end = plan.instance.start, plan.instance.end
    tracker = CountStops(start, end, plan.available_between, 180)
    for offset in offsets:
        tracker.count(start + offset)
    now = max([start + now_offset, *(start + o for o in offsets)])
    assert tracker.stops(now) == count_stops([start + o for o in offsets], start, end, now,
                                             plan.available_between, 180)


@pytest.mark.parametrize(("changes", "expected"), [
    ([], []),
    ([(10.0, "a", False)], [(10.0, None)]),
    ([(10.0, "a", False), (12.0, "b", False), (15.0, "a", True), (20.0, "b", True)], [(10.0, 20.0)]),
    ([(10.0, "a", False), (10.0, "a", True)], []),
])
def test_signal_stops_table(changes: list[tuple[float, str, bool]], expected: list[tuple[float, float | None]]) -> None:
    assert signal_stops({"a": True, "b": True}, changes, 0.0, 100.0, 50.0) == expected
