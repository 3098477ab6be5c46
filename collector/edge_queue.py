"""The edge's on-disk store: count events waiting for the server, and its counters' last values.

One SQLite file in WAL mode with ``synchronous=FULL``: a committed event survives a power cut,
not only a crash. Events keep the order they were counted in (an AUTOINCREMENT sequence that is
never reused) and leave the queue only after the server has answered for them.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT UNIQUE,
    line TEXT NOT NULL,
    source TEXT NOT NULL,
    count INTEGER NOT NULL,
    kind TEXT NOT NULL,
    ts REAL NOT NULL,
    flags INTEGER NOT NULL DEFAULT 0,
    buffered INTEGER NOT NULL DEFAULT 0,
    queued_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    line TEXT NOT NULL, source TEXT NOT NULL, value INTEGER, pending INTEGER, updated_at REAL NOT NULL,
    PRIMARY KEY (line, source)
);
CREATE TABLE IF NOT EXISTS refused (
    seq INTEGER PRIMARY KEY, event_id TEXT, line TEXT NOT NULL, source TEXT NOT NULL, count INTEGER NOT NULL,
    kind TEXT NOT NULL, ts REAL NOT NULL, status INTEGER NOT NULL, detail TEXT NOT NULL, refused_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class QueuedEvent:
    """A count event to be forwarded: parts of one source, with its time and id."""

    line: str
    source: str
    count: int
    kind: str
    ts: float
    flags: int = 0
    event_id: str | None = None


@dataclass(frozen=True)
class StoredEvent:
    """A queued event as read back: its sequence number and whether it waited for the server."""

    seq: int
    event: QueuedEvent
    buffered: bool


class EdgeQueue:
    """The store-and-forward queue and counter memory of one edge; safe to use from any thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: the WAL is synced on every commit, so a queued event survives a power cut.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)
        self.token = self._token()

    def _token(self) -> str:
        """Return this queue file's random token, made once, so event ids never repeat across files."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'token'").fetchone()
            if row is not None:
                return str(row[0])
            token = secrets.token_hex(4)
            self._db.execute("INSERT INTO meta (key, value) VALUES ('token', ?)", (token,))
            return token

    def counter_states(self) -> dict[tuple[str, str], tuple[int | None, int | None]]:
        """Return each source's last counter value and pending jump, as last committed."""
        with self._lock:
            rows = self._db.execute("SELECT line, source, value, pending FROM counters").fetchall()
        return {(line, source): (value, pending) for line, source, value, pending in rows}

    def commit(
        self, events: list[QueuedEvent], counters: dict[tuple[str, str], tuple[int | None, int | None]],
        now: float, buffered: bool,
    ) -> int:
        """Queue events and remember counter values in one durable transaction; return events added.

        An event whose id is already queued is a duplicate delivery and is left out.
        """
        added = 0
        with self._lock:
            cursor = self._db.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                for e in events:
                    cursor.execute(
                        "INSERT OR IGNORE INTO events (event_id, line, source, count, kind, ts, flags, buffered,"
                        " queued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (e.event_id, e.line, e.source, e.count, e.kind, e.ts, e.flags, int(buffered), now),
                    )
                    added += cursor.rowcount
                for (line, source), (value, pending) in counters.items():
                    cursor.execute(
                        "INSERT INTO counters (line, source, value, pending, updated_at) VALUES (?, ?, ?, ?, ?)"
                        " ON CONFLICT (line, source) DO UPDATE SET value = excluded.value,"
                        " pending = excluded.pending, updated_at = excluded.updated_at",
                        (line, source, value, pending, now),
                    )
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
        return added

    def oldest(self, limit: int) -> list[StoredEvent]:
        """Return up to ``limit`` queued events, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, event_id, line, source, count, kind, ts, flags, buffered FROM events"
                " ORDER BY seq LIMIT ?", (limit,),
            ).fetchall()
        return [
            StoredEvent(seq, QueuedEvent(line, source, count, kind, ts, flags, event_id), bool(buffered))
            for seq, event_id, line, source, count, kind, ts, flags, buffered in rows
        ]

    def remove(self, seqs: list[int]) -> None:
        """Drop events the server has answered for."""
        if not seqs:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM events WHERE seq = ?", [(s,) for s in seqs])
            self._db.execute("COMMIT")

    def refuse(self, stored: StoredEvent, status: int, detail: str, now: float) -> None:
        """Move an event the server refused for good out of the queue, keeping it for an engineer."""
        e = stored.event
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT OR REPLACE INTO refused (seq, event_id, line, source, count, kind, ts, status, detail,"
                " refused_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (stored.seq, e.event_id, e.line, e.source, e.count, e.kind, e.ts, status, detail, now),
            )
            self._db.execute("DELETE FROM events WHERE seq = ?", (stored.seq,))
            self._db.execute("COMMIT")

    def mark_buffered(self) -> int:
        """Mark every queued event as held back (the server is away); return how many are queued."""
        with self._lock:
            self._db.execute("UPDATE events SET buffered = 1 WHERE buffered = 0")
            row = self._db.execute("SELECT COUNT(*) FROM events").fetchone()
        return int(row[0])

    def size(self) -> int:
        """Return how many events wait for the server."""
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM events").fetchone()
        return int(row[0])

    def refused_count(self) -> int:
        """Return how many events the server refused for good."""
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM refused").fetchone()
        return int(row[0])

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()
