"""The takt engine's arithmetic, as tables of exact numbers."""

from __future__ import annotations

import math
from datetime import date
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from andon.calendar import ShiftCalendar
from andon.takt import ShiftPlan, SourceHealth, Target, Thresholds, build_rows, current_row, line_condition
from tests.core.engine_fixtures import instance, shift, utc

DAY = date(2026, 11, 25)  # a Wednesday
EARLY = shift("06:00", "14:00", ("09:00", "09:15"), ("11:30", "12:00"))


def row_plans(plan: ShiftPlan, interval: int = 3600) -> list[int]:
    rows = build_rows(plan, interval, {}, plan.instance.start - 1, Thresholds())
    return [r.planned for r in rows]


def test_fifteen_minute_break_inside_an_hour() -> None:
    plan = ShiftPlan(instance(EARLY, DAY), Target(takt_seconds=60))
    assert plan.net_available == 8 * 3600 - 45 * 60
    assert row_plans(plan) == [60, 60, 60, 45, 60, 30, 60, 60]
    assert plan.target == 435
    assert plan.plan_at(utc("2026-11-25 09:10")) == 180
    assert plan.plan_at(utc("2026-11-25 09:20")) == 185
    assert plan.plan_at(utc("2026-11-25 09:20") + 59.9) == 185
    assert plan.plan_at(utc("2026-11-25 09:21")) == 186


def test_takt_70_rows_add_up_to_the_shift_target() -> None:
    plan = ShiftPlan(instance(EARLY, DAY), Target(takt_seconds=70))
    assert row_plans(plan) == [51, 51, 52, 38, 52, 26, 51, 51]
    assert plan.target == 372 == sum(row_plans(plan))


def test_demand_sets_takt_and_hits_demand_exactly() -> None:
    plan = ShiftPlan(instance(EARLY, DAY), Target(demand_per_shift=420))
    assert plan.takt_seconds == pytest.approx(26100 / 420)
    assert plan.target == 420
    assert sum(row_plans(plan)) == 420
    assert row_plans(plan) == [57, 58, 58, 44, 58, 29, 58, 58]


def test_row_wholly_inside_a_break_has_plan_zero_and_is_off() -> None:
    pattern = shift("06:00", "10:00", ("07:00", "07:30"))
    plan = ShiftPlan(instance(pattern, DAY), Target(takt_seconds=60))
    rows = build_rows(plan, 1800, {}, utc("2026-11-25 10:00"), Thresholds())
    assert [r.planned for r in rows] == [30, 30, 0, 30, 30, 30, 30, 30]
    assert rows[2].condition == "off"
    assert rows[1].condition == "abnormal"  # 0 made against 30 planned


def test_last_row_is_cut_at_shift_end() -> None:
    pattern = shift("06:00", "08:30")
    plan = ShiftPlan(instance(pattern, DAY), Target(takt_seconds=60))
    rows = build_rows(plan, 3600, {}, 0, Thresholds())
    assert [(r.end - r.start) for r in rows] == [3600, 3600, 1800]
    assert [r.planned for r in rows] == [60, 60, 30]


def test_shift_across_midnight_belongs_to_its_start_date() -> None:
    night = shift("22:00", "06:00", ("01:00", "01:30"), sid="night")
    inst = instance(night, DAY)
    assert (inst.start, inst.end) == (utc("2026-11-25 22:00"), utc("2026-11-26 06:00"))
    assert inst.breaks == ((utc("2026-11-26 01:00"), utc("2026-11-26 01:30")),)
    plan = ShiftPlan(inst, Target(takt_seconds=60))
    assert row_plans(plan) == [60, 60, 60, 30, 60, 60, 60, 60]
    assert plan.target == 450
    cal = ShiftCalendar([night], "UTC")
    assert cal.at(utc("2026-11-26 03:00")) == inst
    assert cal.at(utc("2026-11-26 05:59")) == inst
    assert cal.at(utc("2026-11-26 06:00")) is None
    assert cal.at(utc("2026-11-26 22:30")).date == date(2026, 11, 26)  # type: ignore[union-attr]
    assert cal.at(utc("2026-11-26 12:00")) is None


# Night shift 22:00-06:00 (no breaks, takt 60 s) on the nights clocks change.
DST_NIGHTS = [
    # zone, start date, start UTC, end UTC, hours, rows
    ("Europe/London", date(2026, 3, 28), "2026-03-28 22:00", "2026-03-29 05:00", 7, 7),
    ("Europe/London", date(2026, 10, 24), "2026-10-24 21:00", "2026-10-25 06:00", 9, 9),
    ("America/Chicago", date(2026, 3, 7), "2026-03-08 04:00", "2026-03-08 11:00", 7, 7),
    ("America/Chicago", date(2026, 10, 31), "2026-11-01 03:00", "2026-11-01 12:00", 9, 9),
]


@pytest.mark.parametrize(("zone", "day", "start", "end", "hours", "rows"), DST_NIGHTS)
def test_dst_nights_have_their_real_length(zone: str, day: date, start: str, end: str, hours: int, rows: int) -> None:
    night = shift("22:00", "06:00", sid="night")
    inst = instance(night, day, zone)
    assert (inst.start, inst.end) == (utc(start), utc(end))
    plan = ShiftPlan(inst, Target(takt_seconds=60))
    assert plan.target == hours * 60
    assert row_plans(plan) == [60] * rows


def test_dst_fall_back_break_in_the_repeated_hour_means_the_first_one() -> None:
    night = shift("22:00", "06:00", ("01:30", "02:00"), sid="night")
    inst = instance(night, date(2026, 10, 24), "Europe/London")
    # 01:30 BST is 00:30 UTC (the first of the two 01:30s); the break ends 02:00 GMT = 02:00 UTC.
    assert inst.breaks == ((utc("2026-10-25 00:30"), utc("2026-10-25 02:00")),)
    plan = ShiftPlan(inst, Target(takt_seconds=60))
    assert plan.target == 9 * 60 - 90


def test_dst_spring_forward_shift_on_the_short_day_in_local_time() -> None:
    day_shift = shift("06:00", "14:00", ("09:00", "09:15"), sid="early")
    inst = instance(day_shift, date(2026, 3, 29), "Europe/London")
    assert (inst.start, inst.end) == (utc("2026-03-29 05:00"), utc("2026-03-29 13:00"))
    assert inst.breaks == ((utc("2026-03-29 08:00"), utc("2026-03-29 08:15")),)


def test_planned_downtime_overlapping_a_break_is_not_subtracted_twice() -> None:
    inst = instance(EARLY, DAY)
    plan = ShiftPlan(inst, Target(takt_seconds=60), [(utc("2026-11-25 09:10"), utc("2026-11-25 09:40"))])
    assert plan.net_available == 8 * 3600 - 45 * 60 - 25 * 60
    assert plan.target == 410
    assert sum(row_plans(plan)) == 410


def test_weekday_filter_and_calendar_lookup() -> None:
    weekdays = shift("06:00", "14:00", days=["mon", "tue", "wed", "thu", "fri"])
    cal = ShiftCalendar([weekdays], "Europe/London")
    assert cal.instance("s", date(2026, 11, 28)) is None  # Saturday
    assert cal.at(utc("2026-11-28 10:00")) is None
    assert cal.latest_started(utc("2026-11-28 10:00")).date == date(2026, 11, 27)  # type: ignore[union-attr]


THRESHOLDS = Thresholds(warning_behind=1, abnormal_behind=3, stop_after_seconds=None)


@pytest.mark.parametrize(
    ("now", "cum_delta", "last_count", "expected"),
    [
        ("2026-11-25 05:00", 0, None, ("off", "no shift")),
        ("2026-11-25 09:05", -10, None, ("off", "break")),
        ("2026-11-25 07:00", 0, "2026-11-25 06:59", ("normal", "on plan")),
        ("2026-11-25 07:00", 2, "2026-11-25 06:59", ("normal", "ahead")),
        ("2026-11-25 07:00", -1, "2026-11-25 06:59", ("normal", "on plan")),
        ("2026-11-25 07:00", -2, "2026-11-25 06:59", ("warning", "2 behind")),
        ("2026-11-25 07:00", -3, "2026-11-25 06:59", ("warning", "3 behind")),
        ("2026-11-25 07:00", -4, "2026-11-25 06:59", ("abnormal", "4 behind")),
        # Three takts (180 s) without a count: stopped.
        ("2026-11-25 07:00", 0, "2026-11-25 06:57", ("abnormal", "line stopped")),
        ("2026-11-25 07:00", 0, "2026-11-25 06:57:01", ("normal", "on plan")),
        # The break does not count towards the stop: 09:14 -> 09:17 is only 2 available minutes.
        ("2026-11-25 09:17", 0, "2026-11-25 08:59", ("abnormal", "line stopped")),
        ("2026-11-25 09:16", 0, "2026-11-25 08:59:30", ("normal", "on plan")),
    ],
)
def test_line_condition(now: str, cum_delta: int, last_count: str | None, expected: tuple[str, str]) -> None:
    plan = ShiftPlan(instance(EARLY, DAY), Target(takt_seconds=60))

    def t(text: str) -> float:
        parts = text.split(":")
        return utc(":".join(parts[:2])) + (float(parts[2]) if len(parts) > 2 else 0)

    assert line_condition(plan, t(now), cum_delta, t(last_count) if last_count else None, THRESHOLDS) == expected


def test_stale_source_wins_over_behind() -> None:
    plan = ShiftPlan(instance(EARLY, DAY), Target(takt_seconds=60))
    now = utc("2026-11-25 07:00")
    offline = SourceHealth("plc", online=False, last_seen=now - 5, stale_after=None, detail="PLC 10.0.0.5 unreachable")
    silent = SourceHealth("mqtt", online=True, last_seen=now - 31, stale_after=30)
    fine = SourceHealth("sim", online=True, last_seen=now - 31, stale_after=None)
    assert line_condition(plan, now, -10, now, THRESHOLDS, [offline]) == ("stale", "PLC 10.0.0.5 unreachable")
    assert line_condition(plan, now, -10, now, THRESHOLDS, [silent]) == ("stale", "no data from mqtt")
    assert line_condition(plan, now, 0, now, THRESHOLDS, [fine]) == ("normal", "on plan")
    # Three sources on one broker that is down: its words once, with the other source's after them.
    broker = [SourceHealth(f"m{i}", online=False, last_seen=None, stale_after=None,
                           detail="MQTT broker 10.0.0.9:1883 unreachable") for i in range(3)]
    assert line_condition(plan, now, -10, now, THRESHOLDS, [*broker, silent]) == (
        "stale", "MQTT broker 10.0.0.9:1883 unreachable; no data from mqtt"
    )


def test_rows_carry_actuals_deltas_and_cumulatives() -> None:
    plan = ShiftPlan(instance(EARLY, DAY), Target(takt_seconds=60))
    tallies = {0: (62, 1), 1: (55, 0), 3: (44, 2)}
    rows = build_rows(plan, 3600, tallies, utc("2026-11-25 09:30"), Thresholds())
    got = [
        (r.planned, r.planned_so_far, r.actual, r.delta, r.cum_planned, r.cum_planned_so_far, r.cum_actual,
         r.cum_delta, r.scrap, r.condition)
        for r in rows[:5]
    ]
    assert got == [
        (60, 60, 62, 2, 60, 60, 62, 2, 1, "normal"),
        (60, 60, 55, -5, 120, 120, 117, -3, 0, "abnormal"),
        (60, 60, 0, -60, 180, 180, 117, -63, 0, "abnormal"),
        # Current row 09:00-10:00 at 09:30, break 09:00-09:15: 15 planned so far of 45, plan(09:30) = 195.
        (45, 15, 44, 29, 225, 195, 161, -34, 2, "normal"),
        (60, 0, None, None, 285, 195, None, None, None, "pending"),
    ]
    assert rows[3].current and not rows[2].current


@st.composite
def shift_and_takt(draw: st.DrawFn) -> tuple[ShiftPlan, int]:
    start = draw(st.integers(0, 23 * 60 + 59))
    length = draw(st.integers(30, 24 * 60 - 1))
    breaks: list[tuple[str, str]] = []
    cursor = start + draw(st.integers(1, 120))
    while len(breaks) < 3 and cursor + 5 < start + length:
        b_len = draw(st.integers(1, 60))
        if cursor + b_len >= start + length:
            break
        breaks.append((_hhmm(cursor), _hhmm(cursor + b_len)))
        cursor += b_len + draw(st.integers(1, 180))
    pattern = shift(_hhmm(start), _hhmm(start + length), *breaks)
    zone = draw(st.sampled_from(["UTC", "Europe/London", "America/Chicago"]))
    day = draw(st.dates(date(2026, 1, 1), date(2027, 12, 31)))
    inst = ShiftCalendar([pattern], zone).instance("s", day)
    assert inst is not None
    if draw(st.booleans()):
        target = Target(takt_seconds=draw(st.floats(1, 600).map(lambda x: round(x, 2))))
    else:
        target = Target(demand_per_shift=draw(st.integers(1, 5000)))
    interval = draw(st.sampled_from([15, 30, 45, 60, 90, 120])) * 60
    return ShiftPlan(inst, target), interval


def _hhmm(minutes: int) -> str:
    minutes %= 24 * 60
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@settings(max_examples=300, deadline=None)
@given(shift_and_takt())
def test_row_plans_sum_to_the_shift_target(case: tuple[ShiftPlan, int]) -> None:
    plan, interval = case
    assert sum(row_plans(plan, interval)) == plan.target
    rows = build_rows(plan, interval, {}, plan.instance.start - 1, Thresholds())
    assert rows[-1].cum_planned == plan.target


@settings(max_examples=200, deadline=None)
@given(shift_and_takt(), st.lists(st.floats(0, 1), min_size=2, max_size=30))
def test_plan_never_decreases(case: tuple[ShiftPlan, int], fractions: list[float]) -> None:
    plan, _ = case
    span = plan.instance.end - plan.instance.start
    times = sorted(plan.instance.start + f * span for f in fractions)
    plans = [plan.plan_at(t) for t in times]
    assert plans == sorted(plans)
    assert plan.plan_at(plan.instance.start) == 0
    if plan.target and plan.takt is not None and plan.takt_seconds is not None:
        assert plan.target == int(plan.net_available // plan.takt_seconds) or plan.target == int(
            plan.net_available / float(plan.takt) + 1e-9
        )


@settings(max_examples=300, deadline=None)
@given(shift_and_takt(), st.lists(st.floats(-0.1, 1.1), min_size=1, max_size=20))
def test_the_plan_is_the_floor_of_available_time_over_takt_exactly(
    case: tuple[ShiftPlan, int], fractions: list[float],
) -> None:
    # plan_at works in integers; it must be the floor of the exact quotient, at any instant and off the shift.
    plan, _ = case
    assert plan.takt is not None
    span = plan.instance.end - plan.instance.start
    for f in fractions:
        t = plan.instance.start + f * span
        assert plan.plan_at(t) == math.floor(Fraction(plan.available_until(t)) / plan.takt)


@settings(max_examples=300, deadline=None)
@given(shift_and_takt(), st.floats(0, 1, exclude_max=True),
       st.dictionaries(st.integers(0, 100), st.tuples(st.integers(0, 500), st.integers(0, 50)), max_size=20))
def test_the_states_row_is_the_boards_current_row(
    case: tuple[ShiftPlan, int], fraction: float, tallies: dict[int, tuple[int, int]],
) -> None:
    # The live state builds only the row it is in; it must be the board's row, figure for figure, with the scrap of
    # the rows started so far (a tally of a later row, from an event time ahead of the clock, shows in neither).
    plan, interval = case
    now = plan.instance.start + fraction * (plan.instance.end - plan.instance.start)
    assume(now < plan.instance.end)  # a fraction just below 1 can round to the shift's end
    rows = build_rows(plan, interval, tallies, now, Thresholds())
    row, scrap = current_row(plan, interval, tallies, now, Thresholds())
    assert row == next(r for r in rows if r.current)
    assert scrap == sum(r.scrap or 0 for r in rows)


# The late shift 14:00-22:00, takt 60 s, no breaks: 60 a row, 480 in all. Seven finished rows made
# 63 + 6 x 60 = 423 (3 ahead); the last row 21:00-22:00 is the current one. Expected figures by hand:
# planned_so_far = minutes into the row, cum_planned_so_far = 420 + that, cum_actual = 423 + actual.
LATE = shift("14:00", "22:00", sid="late")
LATE_TALLIES = {0: (63, 0), **{i: (60, 0) for i in range(1, 7)}}


@pytest.mark.parametrize(
    ("now", "actual", "expected"),
    [
        # now, made in the current row -> planned, planned_so_far, delta, cum_planned, cum_planned_so_far,
        # cum_actual, cum_delta, condition
        ("21:00:00", 0, (60, 0, 0, 480, 420, 423, 3, "normal")),
        ("21:02:00", 2, (60, 2, 0, 480, 422, 425, 3, "normal")),  # not "-58, on plan" beside "+3 ahead"
        ("21:02:00", 0, (60, 2, -2, 480, 422, 423, 1, "warning")),
        ("21:02:59", 3, (60, 2, 1, 480, 422, 426, 4, "normal")),  # plan is floored: the third part is due at 21:03
        ("21:30:00", 25, (60, 30, -5, 480, 450, 448, -2, "abnormal")),
        ("21:59:59", 60, (60, 59, 1, 480, 479, 483, 4, "normal")),
    ],
)
def test_current_row_is_measured_against_its_plan_so_far(
    now: str, actual: int, expected: tuple[int, int, int, int, int, int, int, str]
) -> None:
    plan = ShiftPlan(instance(LATE, DAY), Target(takt_seconds=60))
    hh, mm, ss = (int(x) for x in now.split(":"))
    at = utc(f"2026-11-25 {hh:02d}:{mm:02d}") + ss
    rows = build_rows(plan, 3600, {**LATE_TALLIES, 7: (actual, 0)}, at, Thresholds())
    row = rows[7]
    assert row.current and [r.current for r in rows].count(True) == 1
    got = (row.planned, row.planned_so_far, row.delta, row.cum_planned, row.cum_planned_so_far, row.cum_actual,
           row.cum_delta, row.condition)
    assert got == expected
    assert row.actual == actual and row.reason_required is False
    # The live delta (actual to date - plan(now)) is this row's cum_delta, and the line's word agrees with it.
    assert 423 + actual - plan.plan_at(at) == row.cum_delta
    state = line_condition(plan, at, row.cum_delta, at, THRESHOLDS)
    assert state[0] == ("normal" if row.cum_delta >= -1 else "warning")


def test_finished_rows_plan_so_far_is_their_plan_and_rows_to_come_have_none() -> None:
    plan = ShiftPlan(instance(LATE, DAY), Target(takt_seconds=60))
    rows = build_rows(plan, 3600, LATE_TALLIES, utc("2026-11-25 16:20"), Thresholds())
    assert [(r.planned_so_far, r.cum_planned_so_far, r.current) for r in rows[:4]] == [
        (60, 60, False), (60, 120, False), (20, 140, True), (0, 140, False),
    ]
    assert [r.cum_planned for r in rows] == [60, 120, 180, 240, 300, 360, 420, 480]
    over = build_rows(plan, 3600, LATE_TALLIES, utc("2026-11-25 22:00"), Thresholds())
    assert [(r.planned_so_far, r.delta, r.current) for r in over][-2:] == [(60, 0, False), (60, -60, False)]


@pytest.mark.parametrize(
    ("reason_behind", "made", "required"),
    [
        # Row 14:00-15:00 (plan 60) is over at 15:30; it asks for a reason when more than reason_behind short.
        (1, 60, False), (1, 59, False), (1, 58, True), (1, 0, True),
        (0, 60, False), (0, 59, True),
        (5, 55, False), (5, 54, True),
    ],
)
def test_a_reason_is_asked_only_beyond_reason_behind(reason_behind: int, made: int, required: bool) -> None:
    plan = ShiftPlan(instance(LATE, DAY), Target(takt_seconds=60))
    thresholds = Thresholds(reason_behind=reason_behind)
    rows = build_rows(plan, 3600, {0: (made, 0), 1: (0, 0)}, utc("2026-11-25 15:30"), thresholds)
    assert (rows[0].delta, rows[0].reason_required) == (made - 60, required)
    assert (rows[1].delta, rows[1].current, rows[1].reason_required) == (-30, True, False)  # still running


def test_a_row_inside_a_break_never_asks_for_a_reason() -> None:
    pattern = shift("06:00", "10:00", ("07:00", "07:30"))
    plan = ShiftPlan(instance(pattern, DAY), Target(takt_seconds=60))
    rows = build_rows(plan, 1800, {}, utc("2026-11-25 10:00"), Thresholds(reason_behind=0))
    assert [r.reason_required for r in rows] == [True, True, False, True, True, True, True, True]
