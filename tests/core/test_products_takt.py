"""The plan over product runs, as exact tables: each number worked out by hand from the formula
plan(t) = floor(sum over runs r of available(r ∩ [shift_start, t]) / takt_r)."""

from __future__ import annotations

import math
from datetime import date
from fractions import Fraction

import pytest

from andon.runs import overrun_pieces, split_changeover, subtract
from andon.takt import RunPlan, ShiftPlan, Target, Thresholds, build_rows, lay_kinds, line_condition
from tests.core.engine_fixtures import instance, shift, utc

DAY = date(2026, 11, 25)
EARLY = shift("06:00", "14:00", ("09:00", "09:15"))
H = 3600


def at(hhmm: str) -> float:
    """Return epoch seconds of a time on DAY (UTC)."""
    return utc(f"2026-11-25 {hhmm}")


def two_product_plan() -> ShiftPlan:
    """A at takt 60 from 06:00, B at takt 45 from 10:10; the changeover's 15 planned minutes 10:10-10:25."""
    runs = [RunPlan(at("06:00"), Target(takt_seconds=60), "A"), RunPlan(at("10:10"), Target(takt_seconds=45), "B")]
    return ShiftPlan(instance(EARLY, DAY), Target(takt_seconds=60), spans=[(at("10:10"), at("10:25"), "changeover")],
                     runs=runs)


def expected_cum(t: str) -> int:
    """The spec's formula, written out: A's available seconds / 60 plus B's / 45, floored."""
    secs = int(at(t) - at("06:00"))
    a_avail = min(secs, 4 * H + 10 * 60) - min(max(secs - 3 * H, 0), 15 * 60)  # A runs to 10:10, less the break
    b_avail = max(0, secs - (4 * H + 25 * 60))  # B counts from 10:25, when the planned changeover ends
    return math.floor(Fraction(a_avail, 60) + Fraction(b_avail, 45))


def test_two_products_a_changeover_and_a_break_row_by_row() -> None:
    plan = two_product_plan()
    bounds = ["06:00", "07:00", "08:00", "09:00", "10:00", "11:00", "12:00", "13:00", "14:00"]
    cum = [expected_cum(t) for t in bounds]
    # By hand: 60, 120, 180; 09-10 loses the break: 225; 10:00-10:10 is A (+10 = 235); B from 10:25: 35 min = 2100 s
    # / 45 = 46.67 -> 281; then +80 an hour: 361.67 -> 361, 441.67 -> 441, 521.67 -> 521.
    assert cum == [0, 60, 120, 180, 225, 281, 361, 441, 521]
    rows = build_rows(plan, H, {}, at("14:00"), Thresholds())
    assert [r.planned for r in rows] == [b - a for a, b in zip(cum, cum[1:], strict=False)]
    assert [r.planned for r in rows] == [60, 60, 60, 45, 56, 80, 80, 80]
    assert sum(r.planned for r in rows) == plan.target == 521
    assert [r.products for r in rows] == [("A",)] * 4 + [("A", "B")] + [("B",)] * 3
    for minute in range(0, 8 * 60, 7):  # every seventh minute of the shift, against the formula
        t = at("06:00") + minute * 60
        hhmm = f"{6 + minute // 60:02d}:{minute % 60:02d}"
        assert plan.plan_at(t) == expected_cum(hhmm), hhmm


def test_excluded_spans_carry_their_kind_and_the_takt_follows_the_product() -> None:
    plan = two_product_plan()
    assert plan.excluded_spans() == [(at("09:00"), at("09:15"), "break"), (at("10:10"), at("10:25"), "changeover")]
    assert plan.kind_at(at("10:20")) == "changeover" and plan.kind_at(at("10:25")) is None
    assert (plan.takt_at(at("10:09")), plan.takt_at(at("10:10"))) == (60, 45)
    assert (plan.product_at(at("06:00")), plan.product_at(at("13:59"))) == ("A", "B")
    assert plan.net_available == 8 * H - 15 * 60 - 15 * 60


def test_a_changeover_within_target_is_planned_not_off_and_not_a_stop() -> None:
    plan = two_product_plan()
    # Last count 10:09, now 10:24: 15 minutes without a part, but all of it planned changeover: not stopped.
    condition, reason = line_condition(plan, at("10:24"), 0, at("10:09"), Thresholds(stop_after_seconds=180))
    assert (condition, reason) == ("normal", "changeover; on plan")
    # At 10:28 the target is 3 minutes past: 3 minutes without a part is a stop.
    assert line_condition(plan, at("10:28"), 0, at("10:09"), Thresholds(stop_after_seconds=180)) == (
        "abnormal", "line stopped")


def test_demand_per_product_uses_the_shifts_net_available_time() -> None:
    # A is demanded 420 a shift, B 300: each run's takt is net available / its demand.
    net = 8 * H - 15 * 60 - 15 * 60
    runs = [RunPlan(at("06:00"), Target(demand_per_shift=420), "A"), RunPlan(at("10:10"), Target(demand_per_shift=300),
                                                                              "B")]
    plan = ShiftPlan(instance(EARLY, DAY), Target(takt_seconds=60), spans=[(at("10:10"), at("10:25"), "changeover")],
                     runs=runs)
    a_avail, b_avail = 4 * H + 10 * 60 - 15 * 60, 3 * H + 35 * 60
    assert plan.target == math.floor(Fraction(a_avail * 420, net) + Fraction(b_avail * 300, net))
    assert plan.takt_at(at("07:00")) == Fraction(net, 420)


@pytest.mark.parametrize(
    ("spans", "expected"),
    [
        # a break inside a not-scheduled hour stays a break; the rest of the hour is not scheduled
        ([(10, 20, "not_scheduled"), (12, 14, "break")],
         [(10, 12, "not_scheduled"), (12, 14, "break"), (14, 20, "not_scheduled")]),
        # a changeover overlapping planned downtime gives it the overlap
        ([(0, 10, "changeover"), (5, 15, "planned_downtime")], [(0, 5, "changeover"), (5, 15, "planned_downtime")]),
        # touching spans of one kind join; clipped to the window
        ([(-5, 3, "not_scheduled"), (3, 8, "not_scheduled"), (90, 200, "break")],
         [(0, 8, "not_scheduled"), (90, 100, "break")]),
    ],
)
def test_overlapping_kinds_never_count_a_second_twice(
    spans: list[tuple[float, float, str]], expected: list[tuple[float, float, str]]
) -> None:
    assert list(lay_kinds(spans, 0, 100)) == expected


def test_not_scheduled_hour_has_plan_zero_and_is_off() -> None:
    plan = ShiftPlan(instance(EARLY, DAY), Target(takt_seconds=60), spans=[(at("07:00"), at("08:00"), "not_scheduled")])
    rows = build_rows(plan, H, {}, at("08:30"), Thresholds())
    assert [r.planned for r in rows] == [60, 0, 60, 45, 60, 60, 60, 60]
    assert rows[1].condition == "off" and not rows[1].reason_required
    assert line_condition(plan, at("07:30"), 0, None, Thresholds()) == ("off", "not scheduled")
    assert plan.target == 7 * H // 60 - 15


def test_a_changeovers_target_is_not_used_up_by_a_break() -> None:
    # Changeover from 08:55, target 15 min, break 09:00-09:15: planned 08:55-09:00 and 09:15-09:25.
    pieces = subtract((at("08:55"), at("14:00")), [(at("09:00"), at("09:15"))])
    split = split_changeover(at("08:55"), 900, None, pieces)
    assert split.planned == ((at("08:55"), at("09:00")), (at("09:15"), at("09:25")))
    assert split.target_end == at("09:25")
    # Its first part at 09:31: six minutes of overrun.
    assert overrun_pieces(split.target_end, at("09:31"), pieces) == [(at("09:25"), at("09:31"))]


def test_a_changeover_ended_early_plans_only_its_real_length() -> None:
    pieces = [(at("10:00"), at("14:00"))]
    split = split_changeover(at("10:00"), 900, at("10:09"), pieces)
    assert split.planned == ((at("10:00"), at("10:09")),) and split.target_end is None
    assert overrun_pieces(split.target_end, at("10:09"), pieces) == []


def test_a_zero_minute_target_is_all_overrun() -> None:
    pieces = [(at("10:00"), at("14:00"))]
    split = split_changeover(at("10:00"), 0, at("10:04"), pieces)
    assert (split.planned, split.target_end) == ((), at("10:00"))
    assert overrun_pieces(split.target_end, at("10:04"), pieces) == [(at("10:00"), at("10:04"))]


def test_a_plan_without_runs_is_the_plan_of_old() -> None:
    # No runs: one takt for the shift, exactly as before products existed.
    plain = ShiftPlan(instance(EARLY, DAY), Target(takt_seconds=70))
    single = ShiftPlan(instance(EARLY, DAY), Target(takt_seconds=1), runs=[RunPlan(0, Target(takt_seconds=70))])
    times = [at("06:00") + k * 97.5 for k in range(300)]
    assert [plain.plan_at(t) for t in times] == [single.plan_at(t) for t in times]
    assert plain.target == single.target == 398  # 27,900 available seconds / 70 = 398.57
