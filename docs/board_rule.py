"""Draw docs/board-rule.svg: the current row of a board and the live figures, worked out by the engine.

Run ``python docs/board_rule.py`` after changing the rule; tests/core/test_board_picture.py checks the
picture in the repository is what this script draws.
"""

from __future__ import annotations

import sys
from datetime import date
from html import escape
from pathlib import Path

from andon.calendar import ShiftCalendar
from andon.config.schema import ShiftConfig
from andon.takt import BoardRow, ShiftPlan, Target, Thresholds, build_rows, line_condition

OUT = Path(__file__).with_name("board-rule.svg")
DAY = date(2026, 11, 25)
WIDTH, HEIGHT = 960, 560
GREEN, AMBER, RED, INK, DIM, PANEL = "#00963c", "#f5aa00", "#d21919", "#111", "#666", "#eef0f4"
HOUR_X0, HOUR_X1 = 60, 900  # where 21:00 and 22:00 sit on the hour's bar


def worked_example() -> tuple[BoardRow, int, str]:
    """Return the current row at 21:02 of a 14:00-22:00 shift at a 60 s takt, the live delta and the word."""
    pattern = ShiftConfig(id="late", start="14:00", end="22:00")
    instance = ShiftCalendar([pattern], "UTC").instance("late", DAY)
    assert instance is not None
    plan = ShiftPlan(instance, Target(takt_seconds=60))
    now = instance.start + 7 * 3600 + 120  # 21:02
    tallies = {0: (63, 0), **{i: (60, 0) for i in range(1, 7)}, 7: (2, 0)}
    row = build_rows(plan, 3600, tallies, now, Thresholds())[7]
    live = 423 + 2 - plan.plan_at(now)
    condition, reason = line_condition(plan, now, live, now, Thresholds())
    return row, live, f"{condition} ({reason})"


def text(x: float, y: float, body: str, size: int = 16, fill: str = INK, anchor: str = "start",
         weight: str = "normal") -> str:
    """Return an SVG text element."""
    return (f'<text x="{x:.0f}" y="{y:.0f}" font-size="{size}" fill="{fill}" text-anchor="{anchor}" '
            f'font-weight="{weight}">{escape(body)}</text>')


def signed(n: int | None) -> str:
    """Format a delta with its sign."""
    return "" if n is None else (f"+{n}" if n > 0 else str(n))


def svg(row: BoardRow, live: int, word: str) -> str:
    """Return the picture as SVG text."""
    per_minute = (HOUR_X1 - HOUR_X0) / 60
    so_far_x = HOUR_X0 + per_minute * row.planned_so_far
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        'font-family="DejaVu Sans, Arial, sans-serif">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
        text(30, 36, "The current row at 21:02 (takt 60 s, row 21:00-22:00, 3 ahead before it)", 20, weight="bold"),
        # The hour as a bar: the plan of the whole hour, the part due so far, and now.
        f'<rect x="{HOUR_X0}" y="70" width="{HOUR_X1 - HOUR_X0}" height="34" fill="{PANEL}" stroke="{DIM}"/>',
        f'<rect x="{HOUR_X0}" y="70" width="{so_far_x - HOUR_X0:.1f}" height="34" fill="{GREEN}"/>',
        f'<line x1="{so_far_x:.1f}" y1="60" x2="{so_far_x:.1f}" y2="114" stroke="{RED}" stroke-width="3"/>',
        text(so_far_x + 8, 62, "now 21:02", 14, RED),
        text(HOUR_X0, 130, "21:00", 14, DIM), text(HOUR_X1, 130, "22:00", 14, DIM, "end"),
        text((HOUR_X0 + HOUR_X1) / 2, 93, f"planned = {row.planned} (the whole hour)", 16, INK, "middle"),
        text(HOUR_X0, 152, f"planned_so_far = {row.planned_so_far}: plan(now) - plan(21:00) = "
             f"{row.cum_planned_so_far} - {row.cum_planned_so_far - row.planned_so_far}", 16, GREEN, weight="bold"),
    ]
    headers = ["Hour", "Plan", "Actual", "Delta", "Cum plan", "Cum actual", "Cum delta", "Status"]
    cells = ["\u25b6 21:00-22:00", f"{row.planned_so_far} / {row.planned}", str(row.actual), signed(row.delta),
             f"{row.cum_planned_so_far} / {row.cum_planned}", str(row.cum_actual), signed(row.cum_delta),
             "\u2714 on plan" if row.condition == "normal" else row.condition]
    xs = [30, 232, 330, 410, 490, 615, 725, 822]
    parts.append(f'<rect x="20" y="186" width="{WIDTH - 40}" height="76" fill="{PANEL}"/>')
    for x, head, cell in zip(xs, headers, cells, strict=True):
        parts.append(text(x, 210, head, 14, DIM))
        parts.append(text(x, 246, cell, 19, GREEN if head in ("Delta", "Cum delta", "Status") else INK, weight="bold"))
    parts += [
        text(30, 296, f"delta = actual - planned_so_far = {row.actual} - {row.planned_so_far} = {signed(row.delta)}"),
        text(30, 322, f"cum_delta = cum_actual - cum_planned_so_far = {row.cum_actual} - {row.cum_planned_so_far}"
             f" = {signed(row.cum_delta)}"),
        text(30, 348, "condition (status) is judged on delta, so the hour in progress is not missed yet"),
        # The live figure is the row's cum delta.
        f'<rect x="640" y="366" width="290" height="100" rx="8" fill="{GREEN}"/>',
        text(785, 394, "AHEAD" if live > 0 else "ON PLAN", 20, "#fff", "middle", "bold"),
        text(785, 450, signed(live), 50, "#fff", "middle", "bold"),
        text(30, 404, f"live state: delta = actual_to_date - plan_to_date = {row.cum_actual} - "
             f"{row.cum_planned_so_far} = {signed(live)}", 16),
        text(30, 430, f"= the current row's cum_delta; line condition {word}", 16),
        text(30, 492, "Before: Plan 60, Delta -58, Cum delta -55, \u2714 on plan, beside a big +3 AHEAD.", 15, RED),
        text(30, 516, "Now every number on the row and the big figure is measured against the same plan: plan(now).",
             15, DIM),
        text(30, 540, "planned and cum_planned stay the whole rows' plans, so they still add up to the shift target.",
             15, DIM),
        "</svg>",
    ]
    return "\n".join(parts) + "\n"


def main(argv: list[str]) -> None:
    """Write the picture (to the path given, default docs/board-rule.svg)."""
    out = Path(argv[1]) if len(argv) > 1 else OUT
    out.write_text(svg(*worked_example()), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv)
