"""Run the project's Alembic migrations programmatically (``andon db upgrade``), here or in a child process.

Alembic is needed only while a database changes revision, and what it imports (about 10 MiB) stays in
memory for good once imported. So a database already at ``HEAD`` is recognised by one query of its
``alembic_version`` table, with no Alembic import, and ``andon run`` brings a new or older database up in
a short-lived child process (``python -m andon.storage.migrate``, the URL on its standard input, never on
its command line): the long-running server never imports Alembic.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).with_name("migrations")
HEAD = "0006"  # the newest revision in migrations/versions (tests hold it to Alembic's own head)
MIGRATION_LOCK = 0x616E646F6E  # PostgreSQL advisory lock key of migrations ("andon")
CHILD_TIMEOUT_SECONDS = 3600.0  # a migration of a big database may take long; a hung one must not hang forever


class MigrationError(Exception):
    """The child process could not bring the database to head; the message is its last error line."""


def alembic_config(url: str) -> AlembicConfig:
    """Return an Alembic config pointing at the packaged migrations and ``url``."""
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database behind ``engine`` up to ``revision``.

    On PostgreSQL the migration holds an advisory lock: the two servers of an active/standby pair starting
    together migrate one after the other (the second finds the database at head).
    """
    from alembic import command

    cfg = alembic_config(str(engine.url))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the database behind ``engine`` down to ``revision``."""
    from alembic import command

    cfg = alembic_config(str(engine.url))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def current(engine: Engine) -> str | None:
    """Return the database's current revision, or None before the first migration."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def at_head(engine: Engine) -> bool:
    """Return True when the database is at ``HEAD`` (read from ``alembic_version`` without Alembic)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return False
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [HEAD]


def upgrade_in_child(url: str) -> None:
    """Bring the database at ``url`` to head in a child process; raise MigrationError when it cannot."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "andon.storage.migrate"],
            input=url, capture_output=True, text=True, timeout=CHILD_TIMEOUT_SECONDS, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MigrationError(f"the migration process did not finish: {exc}") from exc
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
        raise MigrationError(lines[-1] if lines else f"the migration process ended with status {done.returncode}")


def main() -> int:
    """Child process: read a database URL on standard input and bring that database to head."""
    from andon.storage.store import open_database

    url = sys.stdin.read().strip()
    engine = open_database(url, upgrade=False)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
