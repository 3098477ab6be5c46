"""The SQDC board: each day of a month, Safety, Quality, Delivery and Cost as green, red or none.

A day's letters come from the same daily figures the trend summaries give (``Summaries.period``), so the board
and the summaries never disagree. Each letter is judged per line by the rule in ``sqdc:`` and the area's day is
red when any of its lines is (the facts name which and why), green when a line had data and none is red, none
when no line had data: a day to come, or no shift counted on it.
"""

from __future__ import annotations

import calendar
from datetime import date
from typing import Any

from andon.config.schema import SqdcConfig
from andon.errors import ServiceError
from andon.payload import excerpt
from andon.plant import Plant
from andon.summary import Summaries

LETTERS = ("S", "Q", "D", "C")


class SqdcBoard:
    """Colour the days of a month for a set of lines."""

    def __init__(self, plant: Plant, summaries: Summaries) -> None:
        self.plant = plant
        self.summaries = summaries
        self.rules: SqdcConfig = plant.config.sqdc

    def scope(self, area_id: str | None, line_id: str | None = None) -> tuple[str | None, str, list[str]]:
        """Return (area id, name, line ids) of an area, of one line, or of the whole plant (404: no such area)."""
        if line_id is not None:
            return None, self.plant.line(line_id).config.display_name, [line_id]
        if area_id is None:
            return None, self.plant.config.plant.name, list(self.plant.lines)
        for area in self.plant.config.areas:
            if area.id == area_id:
                return area.id, area.name or area.id, list(area.lines)
        raise ServiceError(404, f"no area {excerpt(area_id)}", "unknown_area")

    def rule_words(self) -> dict[str, str]:
        """Say each letter's rule in words."""
        r = self.rules
        return {
            "S": f"red when an andon call of category {', '.join(r.safety_categories) or '(none)'} was raised",
            "Q": f"red when scrap / (good + scrap) is above {r.max_scrap_rate:.2%}",
            "D": f"red when actual / planned is below {r.min_attainment:.0%}",
            "C": f"red when a line lost more than {r.max_downtime_minutes:g} minutes to stops",
        }

    def rule_values(self) -> dict[str, dict[str, Any]]:
        """Return each letter's threshold, for a page that words the rules in its own language."""
        r = self.rules
        return {"S": {"categories": list(r.safety_categories)}, "Q": {"max_scrap_rate": r.max_scrap_rate},
                "D": {"min_attainment": r.min_attainment}, "C": {"max_downtime_minutes": r.max_downtime_minutes}}

    def month(self, area_id: str | None, year: int, month: int, line_id: str | None = None) -> dict[str, Any]:
        """Return the SQDC board of a month for an area, one line (a tier 1 board) or the plant."""
        area, name, line_ids = self.scope(area_id, line_id)
        self.plant.writer.flush()  # the daily figures read event times from the database
        days = [date(year, month, d) for d in range(1, calendar.monthrange(year, month)[1] + 1)]
        lines = [self.plant.line(line_id) for line_id in line_ids]
        out = []
        for day in days:
            figures = [self.summaries.period(line, day.isoformat(), [day]) for line in lines]
            out.append({"date": day.isoformat(), **self.judge(figures)})
        return {
            "area": area, "name": name, "month": f"{year:04d}-{month:02d}", "today": self.today().isoformat(),
            "lines": line_ids, "rules": self.rule_words(), "rule_values": self.rule_values(), "days": out,
        }

    def today(self) -> date:
        """Return the plant's local date now."""
        return next(iter(self.plant.lines.values())).calendar.local_date(self.plant.clock.now())

    def judge(self, figures: list[dict[str, Any]]) -> dict[str, Any]:
        """Colour one day from its lines' daily figures; ``red`` gives the facts behind each red letter."""
        colours: dict[str, str] = {}
        red: dict[str, list[dict[str, Any]]] = {}
        for letter in LETTERS:
            verdicts = [v for v in (self._line_verdict(letter, f) for f in figures) if v is not None]
            bad = [facts for is_red, facts in verdicts if is_red]
            colours[letter] = "red" if bad else "green" if verdicts else "none"
            if bad:
                red[letter] = bad
        return {**colours, "red": red}

    def _line_verdict(self, letter: str, f: dict[str, Any]) -> tuple[bool, dict[str, Any]] | None:
        """Judge one letter of one line's day: (red, facts), or None when the line has no data that day."""
        line = f["line"]
        if letter == "S":
            calls = sum(f["andon"].get(c, {}).get("count", 0) for c in self.rules.safety_categories)
            if calls:
                return True, {"line": line, "safety_calls": calls}
            return (False, {"line": line, "safety_calls": 0}) if f["shifts"] else None
        if not f["shifts"]:
            return None
        if letter == "Q":
            made = f["actual"] + f["scrap"]
            if not made:
                return None
            rate = f["scrap"] / made
            return rate > self.rules.max_scrap_rate, {
                "line": line, "good": f["actual"], "scrap": f["scrap"], "scrap_rate": round(rate, 4)}
        if letter == "D":
            if not f["planned"]:
                return None
            return f["actual"] < f["planned"] * self.rules.min_attainment, {
                "line": line, "planned": f["planned"], "actual": f["actual"], "attainment": f["attainment"]}
        return f["downtime_minutes"] > self.rules.max_downtime_minutes, {
            "line": line, "downtime_minutes": f["downtime_minutes"]}
