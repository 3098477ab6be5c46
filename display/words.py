"""The display's words: every text it shows people comes from the ``display.*`` catalog (``andon.i18n``).

Data is shown as written: line, product, station, category and tier names, numbers, a row's reason and a
source's own detail. The server's reason for a line's condition is a closed set of English phrases
(``andon/takt.py``: "no shift", "line stopped", "3 behind", "connecting to plc" ...); those are said in the
display's language, any other phrase (a source's detail) as the server wrote it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from andon import i18n

say = i18n.text  # the text of a key in a language, its fields filled (i18n.UnknownLanguage for a tag without one)


@dataclass(frozen=True)
class Problem:
    """What is wrong with the display's link to the server: a catalog text and its fields (``str``: English)."""

    key: str
    fields: tuple[tuple[str, str], ...] = ()

    def text(self, language: str = i18n.DEFAULT) -> str:
        """Return the words the board shows, in ``language``."""
        return say(language, self.key, **dict(self.fields))

    def __str__(self) -> str:
        return self.text()


UNREACHABLE = Problem("display.problem_unreachable")
BAD_DATA = Problem("display.problem_bad_data")


def server_error(status: int) -> Problem:
    """Return the problem of an HTTP error status."""
    return Problem("display.problem_server_error", (("status", str(status)),))


def unknown_line(line: str) -> Problem:
    """Return the problem of a line the server does not know."""
    return Problem("display.problem_unknown_line", (("line", line),))


def problem_text(problem: Problem | str | None, language: str) -> str:
    """Return the words of a problem in ``language`` (a plain string is shown as given)."""
    if isinstance(problem, Problem):
        return problem.text(language)
    return problem or ""


# The server's reasons (andon/takt.py line_condition, OFF_WORDS, stale_reason; andon/line.py).
_REASONS = {
    "no shift": "display.reason_no_shift",
    "break": "display.reason_break",
    "planned downtime": "display.reason_planned_downtime",
    "planned stop": "display.reason_planned_stop",
    "not scheduled": "display.reason_not_scheduled",
    "line stopped": "display.reason_line_stopped",
    "changeover": "display.reason_changeover",
    "changeover overrun": "display.reason_changeover_overrun",
    "on plan": "display.reason_on_plan",
    "ahead": "display.reason_ahead",
}
_PHRASES = (
    (re.compile(r"(?P<count>\d+) behind"), "display.reason_behind"),
    (re.compile(r"connecting to (?P<source>.+)"), "display.connecting"),
    (re.compile(r"no data from (?P<source>.+)"), "display.no_data_from"),
)
_PART = "; "  # the server joins a changeover's words and several sources' reasons with it


def _phrase(text: str, language: str) -> str:
    key = _REASONS.get(text)
    if key is not None:
        return say(language, key)
    for pattern, key in _PHRASES:
        found = pattern.fullmatch(text)
        if found:
            return say(language, key, **found.groupdict())
    return text


def reason_text(reason: str, language: str) -> str:
    """Return the server's reason in ``language``: its known phrases translated, the rest as written."""
    return _PART.join(_phrase(part, language) for part in reason.split(_PART))


PROBLEM_STATUSES = ("open", "plan", "do", "check", "act", "closed")  # a problem's PDCA status (andon/problems.py)


def status_word(status: str, language: str) -> str:
    """Return a problem's PDCA status in ``language`` (an unknown one as written)."""
    return say(language, f"display.status_{status}") if status in PROBLEM_STATUSES else status


# The built-in andon categories (andon/config/schema.py): said in the display's language; a plant's own as written.
CATEGORIES = ("quality", "material", "maintenance", "safety", "help")


def category_word(category: str, language: str) -> str:
    """Return an andon category's name in ``language`` (a plant's own category as it is written)."""
    return say(language, f"display.category_{category}") if category in CATEGORIES else category
