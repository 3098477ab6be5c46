"""Alembic migrations build exactly the schema the models describe, and go down and up again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from andon.storage import migrate
from andon.storage.store import open_database
from andon.storage.tables import Base
from tests.faults.conftest import fault_config

ROOT = Path(__file__).resolve().parents[2]


def test_head_matches_the_models_and_round_trips(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'm.db'}")
    head = ScriptDirectory.from_config(migrate.alembic_config(str(engine.url))).get_current_head()
    assert migrate.current(engine) == head == migrate.HEAD
    assert migrate.at_head(engine)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    tables = set(inspect(engine).get_table_names())
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    migrate.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    assert not migrate.at_head(engine)
    migrate.upgrade(engine)
    assert set(inspect(engine).get_table_names()) == tables
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


# What `andon run` does before it builds its services, in a fresh interpreter: the database is brought to
# head by a child process, then opened; the server's process has not imported Alembic.
SERVER_START = """
import sys
from andon.storage.store import open_database
open_database(sys.argv[1], in_child=True).dispose()  # as build_services does for andon run
open_database(sys.argv[1]).dispose()
print(sorted(m for m in sys.modules if m.split(".")[0] in ("alembic", "mako")))
"""


@pytest.mark.parametrize("start_at", [None, "0002", "head"])
def test_the_server_process_migrates_in_a_child_and_never_imports_alembic(tmp_path: Path, start_at: str | None) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    if start_at is not None:  # an older database, or one already at head
        engine = open_database(url, upgrade=False)
        migrate.upgrade(engine, start_at)
        engine.dispose()
    done = subprocess.run([sys.executable, "-c", SERVER_START, url], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (0, "[]\n", "")
    engine = open_database(url, upgrade=False)
    assert migrate.current(engine) == migrate.HEAD
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    engine.dispose()


def test_a_database_from_a_newer_release_is_one_clear_line(tmp_path: Path) -> None:
    """A revision this release does not know (the software was rolled back): refused, untouched, in one line."""
    db = tmp_path / "andon.db"
    engine = open_database(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0099'")
    engine.dispose()
    with pytest.raises(migrate.MigrationError, match="Can't locate revision identified by '0099'"):
        open_database(f"sqlite:///{db}", in_child=True)
    done = subprocess.run([sys.executable, "-m", "andon.cli", "run", str(fault_config(tmp_path, db)), "--port", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2
    assert f"cannot bring the database sqlite:///{db} to revision {migrate.HEAD}: " in done.stderr
    assert "Can't locate revision identified by '0099'" in done.stderr
    assert "Traceback" not in done.stderr
    engine = open_database(f"sqlite:///{db}", upgrade=False)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0099"
    engine.dispose()
