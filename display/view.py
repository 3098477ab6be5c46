"""Turn the API's state and board JSON into what the board shows: strings, a condition, rows.

Pure: no pygame, no I/O, no clock. Two views compare equal exactly when the board would look the
same (apart from the clock and the andon ages, which the renderer updates every second), so the
display redraws only on change. Its words are in the display's language (``display.words``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from andon import i18n
from display.palette import condition_word
from display.words import Problem, problem_text, reason_text, say, status_word

log = logging.getLogger(__name__)

NO_FIGURE = "--"


@dataclass(frozen=True)
class RowView:
    """One hour-by-hour row as shown."""

    hours: str
    planned: str
    actual: str
    delta: str
    cum_delta: str
    scrap: str
    reason: str
    condition: str
    current: bool


@dataclass(frozen=True)
class AndonView:
    """One open andon call as shown on the banner (its age is worked out at draw time)."""

    station: str
    category: str
    tier: str
    raised_at: float | None


@dataclass(frozen=True)
class LineView:
    """Everything the line board shows except the clock and the andon ages."""

    line: str
    name: str
    info: str
    condition: str
    word: str
    plan: str
    actual: str
    delta: str
    status: str
    stale: bool
    stale_since: str
    problem: str
    rows: tuple[RowView, ...]
    andons: tuple[AndonView, ...]
    andon: str | None = None  # open calls on top of the condition: escalated, raised or acknowledged
    stop_prompt: str = ""  # a stop waiting for its reason: the prompt shown in the status band
    oee: str = ""  # the shift's OEE, when the display was asked to show it


ANDON_SIGNALS = ("acknowledged", "raised", "escalated")


def parse_time(value: Any) -> float | None:
    """Return epoch seconds from an ISO 8601 string or a number; None when absent or unreadable."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            log.debug("unreadable time %r", value)
            return None
        if parsed.tzinfo is None:
            return None  # a naive time is ambiguous; the interface says UTC with offset
        return parsed.timestamp()
    return None


def local_hhmm(epoch: float | None, tz: tzinfo, seconds: bool = False) -> str:
    """Format epoch seconds as local HH:MM (or HH:MM:SS)."""
    if epoch is None:
        return NO_FIGURE
    fmt = "%H:%M:%S" if seconds else "%H:%M"
    return datetime.fromtimestamp(epoch, tz).strftime(fmt)


def signed(value: Any) -> str:
    """Format a delta with its sign (+3, -5, 0); '--' when not a number."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return NO_FIGURE
    n = int(value)
    return f"+{n}" if n > 0 else str(n)


def figure(value: Any) -> str:
    """Format a count; '--' when not a number."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return NO_FIGURE
    return str(int(value))


def age_text(seconds: float) -> str:
    """Format an age as M:SS under an hour, else Hh MMm."""
    s = max(0, int(seconds))
    if s < 3600:
        return f"{s // 60}:{s % 60:02d}"
    return f"{s // 3600}h {(s % 3600) // 60:02d}m"


def _row_view(row: Mapping[str, Any], tz: tzinfo, language: str) -> RowView:
    start, end = parse_time(row.get("start")), parse_time(row.get("end"))
    reason = str(row.get("reason") or "")
    problem_id = row.get("problem_id")
    if problem_id is not None:
        status = row.get("problem_status")
        if status:
            word = status_word(str(status), language)
            link = say(language, "display.problem_link_status", id=problem_id, status=word)
        else:
            link = say(language, "display.problem_link", id=problem_id)
        reason = f"{reason}  [{link}]".strip()
    current = bool(row.get("current"))
    planned = figure(row.get("planned"))
    if current:  # the hour in progress: plan so far / plan of the hour (its deltas are against the first)
        planned = f"{figure(row.get('planned_so_far'))}/{planned}"
    return RowView(
        hours=f"{local_hhmm(start, tz)}-{local_hhmm(end, tz)}",
        planned=planned,
        actual=figure(row.get("actual")),
        delta=signed(row.get("delta")),
        cum_delta=signed(row.get("cum_delta")),
        scrap=figure(row.get("scrap")),
        reason=reason,
        condition=str(row.get("condition") or "pending"),
        current=current,
    )


def _info(state: Mapping[str, Any], tz: tzinfo, language: str) -> str:
    parts: list[str] = []
    shift = state.get("shift")
    if isinstance(shift, Mapping):
        parts.append(say(language, "display.shift", shift=shift.get("name") or shift.get("id") or "").strip())
    takt = state.get("takt_seconds")
    if isinstance(takt, int | float) and not isinstance(takt, bool):
        parts.append(say(language, "display.takt", seconds=f"{takt:g}"))
    target = state.get("shift_target")
    if isinstance(target, int) and not isinstance(target, bool):
        parts.append(say(language, "display.target", count=target))
    parts.extend(_production(state, tz, language))
    return "   ".join(parts) if parts else say(language, "display.no_shift")


def _production(state: Mapping[str, Any], tz: tzinfo, language: str) -> list[str]:
    """Say what the line makes: the product, and the work order's made of quantity and expected finish."""
    parts: list[str] = []
    product = state.get("product")
    if isinstance(product, Mapping) and product.get("name"):
        parts.append(str(product["name"])[:40])
    order = state.get("work_order")
    if isinstance(order, Mapping) and order.get("id"):
        text = say(language, "display.order", order=str(order["id"])[:32])
        made, quantity = order.get("made"), order.get("quantity")
        if isinstance(made, int) and isinstance(quantity, int) and not isinstance(quantity, bool):
            text += f" {made}/{quantity}"
        finish = parse_time(order.get("expected_finish"))
        if finish is not None:
            text += " " + say(language, "display.order_done", time=local_hhmm(finish, tz))
        parts.append(text)
    return parts


def _status(state: Mapping[str, Any], tz: tzinfo, language: str) -> str:
    parts: list[str] = []
    reason = state.get("reason")
    if reason:
        parts.append(reason_text(str(reason), language))
    last = parse_time(state.get("last_count_at"))
    if last is not None:
        parts.append(say(language, "display.last_count", time=local_hhmm(last, tz)))
    for source in state.get("sources") or ():
        if isinstance(source, Mapping) and not source.get("online", True):
            if source.get("status") == "connecting":
                detail = say(language, "display.connecting", source=source.get("id", "?"))
            else:
                detail = source.get("detail") or say(language, "display.source_offline", source=source.get("id", "?"))
            if str(detail) not in parts:
                parts.append(str(detail))
    return "   ".join(parts)


def _andons(state: Mapping[str, Any]) -> tuple[AndonView, ...]:
    calls = []
    for call in state.get("open_andons") or ():
        if not isinstance(call, Mapping):
            continue
        calls.append(
            AndonView(
                station=str(call.get("station") or "?"),
                category=str(call.get("category") or "help"),
                tier=str(call.get("tier") or ""),
                raised_at=parse_time(call.get("raised_at")),
            )
        )
    return tuple(calls)


def line_view(
    line: str,
    state: Mapping[str, Any] | None,
    board: Mapping[str, Any] | None,
    *,
    stale: bool,
    last_good: float | None,
    problem: Problem | str | None,
    tz: tzinfo,
    show_oee: bool = False,
    language: str = i18n.DEFAULT,
) -> LineView:
    """Build the line board's view from the API's state and board (either may be missing), in ``language``."""
    state = state or {}
    condition = str(state.get("condition") or "stale")
    delta_value = state.get("delta")
    if stale or not state:
        condition = "stale"
    delta = delta_value if isinstance(delta_value, int) else None
    word = condition_word(condition, delta, state.get("reason"), language)
    rows = tuple(_row_view(r, tz, language) for r in (board or {}).get("rows") or () if isinstance(r, Mapping))
    if last_good:
        since = say(language, "display.no_data_since", time=local_hhmm(last_good, tz, seconds=True))
    else:
        since = say(language, "display.no_data")
    return LineView(
        line=line,
        name=str(state.get("name") or (board or {}).get("name") or line),
        info=_info(state, tz, language),
        condition=condition,
        word=word,
        plan=figure(state.get("plan_to_date")),
        actual=figure(state.get("actual_to_date")),
        delta=signed(delta_value),
        status=_status(state, tz, language),
        stale=stale or not state,
        stale_since=since,
        problem=problem_text(problem, language),
        rows=rows,
        andons=_andons(state),
        andon=_andon_signal(state),
        stop_prompt=_stop_prompt(state, tz, language) if not (stale or not state) else "",
        oee=_oee(board, language) if show_oee and not (stale or not state) else "",
    )


def _stop_prompt(state: Mapping[str, Any], tz: tzinfo, language: str) -> str:
    prompt = state.get("stop_prompt")
    if not isinstance(prompt, Mapping):
        return ""
    start = parse_time(prompt.get("start"))
    if start is None:
        return say(language, "display.stop_prompt")
    return say(language, "display.stop_prompt_since", time=local_hhmm(start, tz))


def _percent(value: Any) -> str:
    return "-" if not isinstance(value, int | float) or isinstance(value, bool) else f"{round(value * 100)}"


def _oee(board: Mapping[str, Any] | None, language: str) -> str:
    totals = (board or {}).get("totals")
    figures = totals.get("oee") if isinstance(totals, Mapping) else None
    if not isinstance(figures, Mapping):
        return ""
    return say(language, "display.oee", **{k: _percent(figures.get(k))
                                            for k in ("oee", "availability", "performance", "quality")})


def _andon_signal(state: Mapping[str, Any]) -> str | None:
    signal = state.get("andon")
    return signal if signal in ANDON_SIGNALS else None


@dataclass(frozen=True)
class TileView:
    """One line's tile on the plant overview."""

    line: str
    name: str
    condition: str
    word: str
    plan: str
    actual: str
    delta: str
    andons: int


def tile_view(state: Mapping[str, Any], *, stale: bool, language: str = i18n.DEFAULT) -> TileView:
    """Build one plant-overview tile from a line state (its word in ``language``)."""
    condition = "stale" if stale else str(state.get("condition") or "stale")
    delta_value = state.get("delta")
    line = str(state.get("line") or "?")
    return TileView(
        line=line,
        name=str(state.get("name") or line),
        condition=condition,
        word=condition_word(
            condition, delta_value if isinstance(delta_value, int) else None, state.get("reason"), language
        ),
        plan=figure(state.get("plan_to_date")),
        actual=figure(state.get("actual_to_date")),
        delta=signed(delta_value),
        andons=len([c for c in state.get("open_andons") or () if isinstance(c, Mapping)]),
    )
