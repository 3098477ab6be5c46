"""The condition vocabulary, in one place: what a line, a board row and an andon call can be."""

from __future__ import annotations

from typing import Literal, get_args

# A line's condition, shown by boards and stack lights.
Condition = Literal["off", "normal", "warning", "abnormal", "stale"]
CONDITIONS: tuple[Condition, ...] = get_args(Condition)

# A board row's condition: a line condition, or pending for a row that has not started.
RowCondition = Literal["off", "normal", "warning", "abnormal", "pending"]
ROW_CONDITIONS: tuple[RowCondition, ...] = get_args(RowCondition)

# What open andon calls lay on top of a line's condition, most urgent last.
AndonSignal = Literal["acknowledged", "raised", "escalated"]
ANDON_SIGNALS: tuple[AndonSignal, ...] = get_args(AndonSignal)
