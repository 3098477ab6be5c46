"""Andon calls: raise (idempotent), acknowledge, resolve, escalate on the engine's clock."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import select

from andon.clock import Clock
from andon.conditions import AndonSignal
from andon.config.schema import Config, EscalationTier
from andon.errors import ServiceError
from andon.line import iso
from andon.plant import Plant
from andon.storage.store import Store
from andon.storage.tables import AndonCallRow, AndonEscalationRow

log = logging.getLogger(__name__)

OPEN_STATES = ("raised", "acknowledged")


SIGNAL_RANK = {"acknowledged": 1, "raised": 2, "escalated": 3}


def andon_signal(calls: Iterable[Mapping[str, Any]]) -> AndonSignal | None:
    """Return what open calls lay on a line's condition: escalated, raised, acknowledged or None.

    A call waiting for an answer after climbing a tier is ``escalated`` (the stack light's red
    flashing); waiting is ``raised``; someone on the way is ``acknowledged``.
    """
    signal: AndonSignal | None = None
    for call in calls:
        state = call.get("state")
        if state not in OPEN_STATES:
            continue
        level: AndonSignal = "escalated" if state == "raised" and (call.get("tier_index") or 0) > 0 else (
            "raised" if state == "raised" else "acknowledged")
        if signal is None or SIGNAL_RANK[level] > SIGNAL_RANK[signal]:
            signal = level
    return signal


class AndonError(ServiceError):
    """A request about andon calls that cannot be carried out."""


def call_dict(row: AndonCallRow, escalations: list[AndonEscalationRow], now: float) -> dict[str, Any]:
    """Describe an andon call for JSON (docs/interfaces.md)."""
    end = row.resolved_at if row.resolved_at is not None else now
    return {
        "id": row.id, "line": row.line_id, "station": row.station, "category": row.category,
        "state": row.state, "raised_at": iso(row.raised_at), "raised_by": row.raised_by,
        "acknowledged_at": iso(row.acknowledged_at), "acknowledged_by": row.acknowledged_by,
        "resolved_at": iso(row.resolved_at), "resolved_by": row.resolved_by,
        "tier": row.tier, "tier_index": row.tier_index,
        "escalations": [{"tier": e.tier, "tier_index": e.tier_index, "at": iso(e.at)} for e in escalations],
        "age_seconds": round(max(0.0, end - row.raised_at), 3), "note": row.note,
    }


class AndonService:
    """The andon call lifecycle. ``on_event`` receives every raise, step and escalation."""

    def __init__(
        self, config: Config, plant: Plant, store: Store, clock: Clock,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.config = config
        self.plant = plant
        self.store = store
        self.clock = clock
        self.listeners: list[Callable[[dict[str, Any]], None]] = [on_event] if on_event else []
        self._lock = threading.RLock()
        self._open: dict[int, dict[str, Any]] = {}
        with store.session() as s:
            for row in s.execute(select(AndonCallRow).where(AndonCallRow.state.in_(OPEN_STATES))).scalars():
                self._open[row.id] = self._brief_of(row)

    # --- queries ----------------------------------------------------------------------
    def open_brief(self, line_id: str) -> list[dict[str, Any]]:
        """Return the open calls of a line, oldest first, for its state."""
        with self._lock:
            return [
                {k: v for k, v in b.items() if k != "raised_ts"}
                for b in sorted(self._open.values(), key=lambda b: b["id"])
                if b["line"] == line_id
            ]

    def open_count(self) -> int:
        """Return how many calls are open in the plant."""
        with self._lock:
            return len(self._open)

    def get(self, call_id: int) -> dict[str, Any]:
        """Return one call, or raise AndonError 404."""
        with self.store.session() as s:
            row = s.get(AndonCallRow, call_id)
            if row is None:
                raise AndonError(404, f"no andon call {call_id}")
            return call_dict(row, self._escalations(s, [row.id]).get(row.id, []), self.clock.now())

    def find(self, line: str | None = None, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Return calls, newest first, filtered by line and state (``open`` = raised or acknowledged)."""
        stmt = select(AndonCallRow).order_by(AndonCallRow.id.desc()).limit(limit)
        if line is not None:
            stmt = stmt.where(AndonCallRow.line_id == line)
        if state == "open":
            stmt = stmt.where(AndonCallRow.state.in_(OPEN_STATES))
        elif state is not None:
            stmt = stmt.where(AndonCallRow.state == state)
        now = self.clock.now()
        with self.store.session() as s:
            rows = list(s.execute(stmt).scalars())
            escalations = self._escalations(s, [r.id for r in rows])
            return [call_dict(r, escalations.get(r.id, []), now) for r in rows]

    # --- lifecycle --------------------------------------------------------------------
    def raise_call(
        self, line_id: str, station: str, category: str, by: str, note: str = ""
    ) -> tuple[dict[str, Any], bool]:
        """Raise a call; return (call, created). An open call for the same station+category is returned."""
        line = self.plant.line(line_id)
        categories = line.config.andon.categories
        if category not in categories:
            raise AndonError(422, f"line {line_id!r} has no andon category {category!r}; it has {categories}",
                             "bad_category")
        station = station.strip()
        if not station:
            raise AndonError(422, "station must not be empty", "no_station")
        stations = line.config.andon.station_ids()
        if stations and station not in stations:
            raise AndonError(422, f"line {line_id!r} has no station {station!r}; it has {stations}",
                             "bad_station")
        now = self.clock.now()
        tiers = line.config.andon.tiers_for(category)
        with self._lock, self.store.transaction() as s:
            existing = s.execute(
                select(AndonCallRow).where(
                    AndonCallRow.line_id == line_id, AndonCallRow.station == station,
                    AndonCallRow.category == category, AndonCallRow.state.in_(OPEN_STATES),
                )
            ).scalars().first()
            if existing is not None:
                return call_dict(existing, self._escalations(s, [existing.id]).get(existing.id, []), now), False
            row = AndonCallRow(
                line_id=line_id, station=station, category=category, state="raised", raised_at=now,
                raised_by=by, tier_index=0, tier=tiers[0].tier if tiers else "", note=note,
            )
            s.add(row)
            s.flush()
            call = call_dict(row, [], now)
            brief = self._brief_of(row)
        self._open[brief["id"]] = brief  # only once committed: a failed commit leaves no phantom call
        log.info("andon raised on %s station %s: %s (by %s)", line_id, station, category, by)
        self._emit("raised", call)
        if self.escalate([call["id"]]):  # a later tier after 0 s applies at once
            call = self.get(call["id"])
        return call, True

    def acknowledge(self, call_id: int, by: str, note: str = "") -> dict[str, Any]:
        """Acknowledge a raised call (someone is on the way)."""
        return self._step(call_id, "acknowledged", by, note)

    def resolve(self, call_id: int, by: str, note: str = "") -> dict[str, Any]:
        """Resolve an open call."""
        return self._step(call_id, "resolved", by, note)

    def _step(self, call_id: int, to: str, by: str, note: str) -> dict[str, Any]:
        now = self.clock.now()
        with self._lock, self.store.transaction() as s:
            row = s.get(AndonCallRow, call_id)
            if row is None:
                raise AndonError(404, f"no andon call {call_id}")
            if row.state == "resolved":
                raise AndonError(409, f"andon call {call_id} is already resolved")
            if to == "acknowledged" and row.state == "acknowledged":
                raise AndonError(409, f"andon call {call_id} is already acknowledged")
            row.state = to
            if to == "acknowledged":
                row.acknowledged_at, row.acknowledged_by = now, by
            else:
                if row.acknowledged_at is None:  # resolved straight away counts as answered then
                    row.acknowledged_at, row.acknowledged_by = now, by
                row.resolved_at, row.resolved_by = now, by
            if note:
                row.note = f"{row.note}\n{note}".strip()
            call = call_dict(row, self._escalations(s, [row.id]).get(row.id, []), now)
            brief = self._brief_of(row)
        if to == "resolved":  # only once committed
            self._open.pop(brief["id"], None)
        else:
            self._open[brief["id"]] = brief
        log.info("andon %d on %s %s by %s", call_id, call["line"], to, by)
        self._emit(to, call)
        return call

    def escalate(self, call_ids: list[int] | None = None) -> list[dict[str, Any]]:
        """Climb unacknowledged calls whose tier limit has passed; return the escalated calls."""
        now = self.clock.now()
        escalated = []
        with self._lock:
            candidates = [
                b for b in self._open.values()
                if b["state"] == "raised" and (call_ids is None or b["id"] in call_ids)
            ]
        takts: dict[str, float | None] = {}
        for brief in candidates:
            line = self.plant.line(brief["line"])
            tiers = line.config.andon.tiers_for(brief["category"])
            if line.id not in takts:
                takts[line.id] = line.takt_at(now)
            due = self._due_tier(tiers, now - brief["raised_ts"], takts[line.id])
            if due <= brief["tier_index"]:
                continue
            with self._lock, self.store.transaction() as s:
                row = s.get(AndonCallRow, brief["id"])
                if row is None or row.state != "raised" or row.tier_index >= due:
                    continue
                for index in range(row.tier_index + 1, due + 1):
                    s.add(AndonEscalationRow(call_id=row.id, tier_index=index, tier=tiers[index].tier, at=now))
                row.tier_index, row.tier = due, tiers[due].tier
                s.flush()
                call = call_dict(row, self._escalations(s, [row.id]).get(row.id, []), now)
                brief = self._brief_of(row)
            self._open[brief["id"]] = brief
            log.warning("andon %d on %s escalated to %s", call["id"], call["line"], call["tier"])
            self._emit("escalated", call)
            escalated.append(call)
        return escalated

    @staticmethod
    def _due_tier(tiers: list[EscalationTier], age: float, takt: float | None) -> int:
        due = 0
        for index, tier in enumerate(tiers):
            if tier.after_seconds is not None:
                limit = tier.after_seconds
            elif takt is not None and tier.after_takts is not None:
                limit = tier.after_takts * takt
            else:
                continue  # a takt-based limit off shift waits until there is a takt
            if age >= limit:
                due = index
        return due

    # --- helpers ----------------------------------------------------------------------
    def _emit(self, event: str, call: dict[str, Any]) -> None:
        message = {"type": "andon", "event": event, "call": call}
        for listener in list(self.listeners):
            try:
                listener(message)
            except Exception:
                log.exception("an andon listener failed")
        self.plant.notify(call["line"])

    @staticmethod
    def _brief_of(row: AndonCallRow) -> dict[str, Any]:
        return {
            "id": row.id, "line": row.line_id, "station": row.station, "category": row.category,
            "state": row.state, "raised_at": iso(row.raised_at), "raised_ts": row.raised_at,
            "tier": row.tier, "tier_index": row.tier_index,
        }

    @staticmethod
    def _escalations(s: Any, ids: list[int]) -> dict[int, list[AndonEscalationRow]]:
        out: dict[int, list[AndonEscalationRow]] = {}
        if not ids:
            return out
        stmt = select(AndonEscalationRow).where(AndonEscalationRow.call_id.in_(ids)).order_by(AndonEscalationRow.id)
        for e in s.execute(stmt).scalars():
            out.setdefault(e.call_id, []).append(e)
        return out
