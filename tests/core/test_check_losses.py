"""`andon check-config` on the loss model: unknown and duplicate reason codes, an ideal cycle longer than the
takt, each at its YAML line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HEAD = 'shifts:\n  - {id: early, start: "06:00", end: "14:00", breaks: [{start: "09:00", end: "10:00"}]}\n'
CASES = [
    ("stop_reasons:\n  - {code: jam, name: Jam, category: breakdown}\n"
     "  - {code: jam, name: Jam 2, category: breakdown}\n"
     "lines:\n  - {id: line1, takt_seconds: 60}\n",
     "line 5: stop_reasons[1].code: stop reason 'jam' is listed twice"),
    ("lines:\n  - id: line1\n    takt_seconds: 60\n    stop_reasons:\n"
     "      - {code: meeting, name: M, category: meeting}\n",
     "line 7: lines[0].stop_reasons[0].code: stop reason 'meeting' is already in the reason tree"),
    ("lines:\n  - id: line1\n    takt_seconds: 60\n    losses:\n      andon_reasons: {maintenance: brekdown}\n",
     "line 7: lines[0].losses.andon_reasons.maintenance: andon_reasons names unknown stop reason 'brekdown'; "
     "did you mean breakdown?"),
    ("lines:\n  - id: line1\n    takt_seconds: 60\n    sources:\n"
     "      - {type: http, id: f, role: fault_code, fault_codes: {17: jamm}}\n",
     "line 7: lines[0].sources[0].fault_codes[17]: fault_codes names unknown stop reason 'jamm'; did you mean jam?"),
    ("lines:\n  - id: line1\n    takt_seconds: 60\n    ideal_cycle_seconds: 75\n",
     "line 6: lines[0].ideal_cycle_seconds: ideal_cycle_seconds 75 is longer than the takt (60 s): the line "
     "could never make its demand"),
    # 7 hours of the shift at a demand of 400: takt 63 s.
    ("lines:\n  - id: line1\n    demand_per_shift: 400\n    ideal_cycle_seconds: 64\n",
     "line 6: lines[0].ideal_cycle_seconds: ideal_cycle_seconds 64 is longer than the takt of shift 'early' "
     "(63 s): the line could never make its demand"),
]


@pytest.mark.parametrize(("body", "expected"), CASES)
def test_loss_config_errors_name_their_yaml_line(tmp_path: Path, body: str, expected: str) -> None:
    path = tmp_path / "plant.yaml"
    path.write_text(HEAD + body)
    run = subprocess.run([sys.executable, "-m", "andon.cli", "check-config", str(path)], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode != 0
    assert run.stdout.splitlines()[1:] == ["  " + expected] or run.stderr.splitlines()[1:] == ["  " + expected], (
        run.stdout + run.stderr)


def test_a_good_loss_config_passes(tmp_path: Path) -> None:
    path = tmp_path / "plant.yaml"
    path.write_text(HEAD + "lines:\n  - id: line1\n    takt_seconds: 60\n    ideal_cycle_seconds: 55\n")
    run = subprocess.run([sys.executable, "-m", "andon.cli", "check-config", str(path)], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
