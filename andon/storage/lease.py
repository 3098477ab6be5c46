"""The lease that makes one of two servers on one PostgreSQL the active one.

One row (``server_lease``) names the holder and when its lease ends, on the database's own clock (the two
servers' clocks need not agree). Holding is one statement: take the row if it is ours or its time is up,
else leave it; so two servers can never both take it. The active renews it every third of its length and
steps down when it cannot (docs/availability.md); a standby tries to take it twice a second.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Engine

NAME = "plant"

_HOLD = text("""
INSERT INTO server_lease (name, holder, url, expires_at, term)
VALUES (:name, :me, :url, extract(epoch from clock_timestamp()) + :seconds, 1)
ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, url = EXCLUDED.url, expires_at = EXCLUDED.expires_at,
    term = server_lease.term + CASE WHEN server_lease.holder = EXCLUDED.holder THEN 0 ELSE 1 END
WHERE server_lease.holder = EXCLUDED.holder OR server_lease.expires_at < extract(epoch from clock_timestamp())
RETURNING term
""")
_READ = text("""
SELECT holder, url, expires_at - extract(epoch from clock_timestamp()), term FROM server_lease WHERE name = :name
""")
_RELEASE = text("UPDATE server_lease SET expires_at = 0 WHERE name = :name AND holder = :me")


@dataclass(frozen=True)
class Holder:
    """Who holds the lease: the holder's id, URL, seconds left (negative: run out), term."""

    id: str
    url: str
    seconds_left: float
    term: int

    @property
    def name(self) -> str:
        """Return the server's name, as configured (its id without the process's own mark)."""
        return server_name(self.id)


def holder_id(name: str) -> str:
    """Return a process's id in the lease: its server's name and a mark of its own.

    Two processes never share an id, even when two machines carry one name (one config file, cloned
    hosts): sharing one would let both hold the lease. A server restarted after a crash is a new holder,
    so it waits for its old lease to run out like any standby (a clean stop gives the lease up first).
    """
    return f"{name}#{secrets.token_hex(4)}"


def server_name(holder: str) -> str:
    """Return the server's name of a holder id."""
    return holder.rsplit("#", 1)[0]


class Lease:
    """This server's side of the lease on one database."""

    def __init__(self, engine: Engine, me: str, url: str, seconds: float) -> None:
        """``me``: this process's holder id (``holder_id``), unique to it."""
        if engine.dialect.name != "postgresql":
            raise ValueError("an active/standby lease needs PostgreSQL")
        self.engine = engine
        self.me = me
        self.url = url
        self.seconds = seconds
        self.term: int | None = None

    def hold(self) -> bool:
        """Take or renew the lease for ``seconds`` from now; return whether this server holds it."""
        with self.engine.begin() as conn:
            term = conn.execute(_HOLD, {"name": NAME, "me": self.me, "url": self.url,
                                        "seconds": self.seconds}).scalar()
        self.term = None if term is None else int(term)
        return term is not None

    def holder(self) -> Holder | None:
        """Return who holds (or last held) the lease, or None when no server ever has."""
        with self.engine.connect() as conn:
            row = conn.execute(_READ, {"name": NAME}).first()
        return None if row is None else Holder(str(row[0]), str(row[1]), float(row[2]), int(row[3]))

    def release(self) -> None:
        """Give the lease up now (a clean stop): the standby takes over at its next try, not at the lease's end."""
        with self.engine.begin() as conn:
            conn.execute(_RELEASE, {"name": NAME, "me": self.me})
