"""The picture of the current-row rule in docs is what the engine computes today."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

DOCS = Path(__file__).resolve().parents[2] / "docs"


def picture_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("board_rule", DOCS / "board_rule.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_docs_picture_is_up_to_date() -> None:
    script = picture_script()
    row, live, word = script.worked_example()
    # 21:02 into 21:00-22:00 at a 60 s takt, 423 made in the seven hours before (plan 420), 2 in this one.
    assert (row.planned, row.planned_so_far, row.actual, row.delta) == (60, 2, 2, 0)
    assert (row.cum_planned, row.cum_planned_so_far, row.cum_actual, row.cum_delta) == (480, 422, 425, 3)
    assert (live, word, row.condition) == (3, "normal (ahead)", "normal")
    assert (DOCS / "board-rule.svg").read_text(encoding="utf-8") == script.svg(row, live, word), (
        "docs/board-rule.svg is out of date: run python docs/board_rule.py")
