"""Imports run one way (core <- devices <- engine <- storage <- services <- API, collector, display <- the
composition root): the contract in pyproject.toml, checked by import-linter over the real import graph."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def lint_imports(*args: str) -> subprocess.CompletedProcess[str]:
    """Run import-linter on the project (a file of its own config when given)."""
    command = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command as c; "
               "sys.exit(c(sys.argv[1:]))", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_imports_run_one_way() -> None:
    done = lint_imports()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "Contracts: 1 kept, 0 broken." in done.stdout


def test_an_import_against_the_direction_breaks_the_contract(tmp_path: Path) -> None:
    # The same layers with one upward import added by a module outside the project: the engine's takt
    # module importing the API. import-linter must report it as broken (so the check above can fail).
    package = tmp_path / "layered"
    (package / "low").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "low" / "__init__.py").write_text("")
    (package / "low" / "engine.py").write_text("from layered import high\n")
    (package / "high.py").write_text("from layered.low import engine\n")
    (tmp_path / ".importlinter").write_text(
        "[importlinter]\nroot_package = layered\n\n[importlinter:contract:1]\nname = one way\n"
        "type = layers\nlayers =\n    layered.high\n    layered.low\n"
    )
    command = [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
               "from importlinter.cli import lint_imports_command as c; sys.exit(c(['--config', sys.argv[2]]))",
               str(tmp_path), str(tmp_path / ".importlinter")]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "layered.low.engine -> layered.high" in done.stdout
