"""A sample line in the documented JSON shapes, and a tiny API serving it.

Used by the tests, the benchmark and the docs' screenshots: `python -m display.sample --port P`
serves fixed state and board JSON so the display can run without the real server.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, HTTPException, WebSocket, WebSocketDisconnect

SHIFT_START = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
SAMPLE_NOW = datetime(2026, 11, 28, 9, 30, 0, tzinfo=UTC).timestamp()

REASONS = {0: "Changeover overran 5 min", 1: "Material shortage st3"}
PLANS = [60, 60, 60, 60, 45, 30, 60, 45]  # 420; at 09:30 the current row (09:00-10:00) has 30 planned so far
CURRENT_ROW = 3
SO_FAR = 30


def _iso(t: datetime) -> str:
    return t.isoformat()


def _actuals(behind: bool) -> list[int]:
    return [58, 49, 63, 26] if behind else [61, 62, 72, 35]


def _row_condition(delta: int) -> str:
    return "normal" if delta >= 0 else ("abnormal" if delta < -3 else "warning")


def sample_board(line: str = "line1", name: str = "Assembly 1", behind: bool = True) -> dict[str, Any]:
    """Return an 8-hour board at 09:30, three hours done and the fourth half way (behind or ahead)."""
    rows: list[dict[str, Any]] = []
    actuals = _actuals(behind)
    cum_p = cum_a = 0
    for i, planned in enumerate(PLANS):
        start = SHIFT_START + timedelta(hours=i)
        so_far = planned if i < CURRENT_ROW else (SO_FAR if i == CURRENT_ROW else 0)
        cum_p += planned
        cum_so_far = cum_p - planned + so_far if i <= CURRENT_ROW else sum(PLANS[:CURRENT_ROW]) + SO_FAR
        row: dict[str, Any] = {
            "start": _iso(start),
            "end": _iso(start + timedelta(hours=1)),
            "planned": planned,
            "planned_so_far": so_far,
            "cum_planned": cum_p,
            "cum_planned_so_far": cum_so_far,
            "actual": None,
            "delta": None,
            "cum_actual": None,
            "cum_delta": None,
            "scrap": None,
            "condition": "pending",
            "current": i == CURRENT_ROW,
            "reason_required": False,
            "reason": None,
            "problem_id": None,
        }
        if i < len(actuals):
            cum_a += actuals[i]
            delta = actuals[i] - so_far
            row.update(
                actual=actuals[i],
                delta=delta,
                cum_actual=cum_a,
                cum_delta=cum_a - cum_so_far,
                scrap=i % 2,
                condition=_row_condition(delta),
                reason_required=i < CURRENT_ROW and delta < -1,
            )
            if behind and i in REASONS:
                row["reason"] = REASONS[i]
                row["problem_id"] = 12 if i == 1 else None
                row["problem_status"] = "do" if i == 1 else None
        rows.append(row)
    return {
        "line": line,
        "name": name,
        "date": "2026-11-28",
        "shift": "early",
        "start": _iso(SHIFT_START),
        "end": _iso(SHIFT_START + timedelta(hours=8)),
        "timezone": "UTC",
        "takt_seconds": 60.0,
        "shift_target": sum(PLANS),
        "rows": rows,
    }


def sample_state(
    line: str = "line1",
    name: str = "Assembly 1",
    behind: bool = True,
    andons: int = 0,
    condition: str | None = None,
) -> dict[str, Any]:
    """Return a line state at 09:30 consistent with ``sample_board`` (its delta is the current row's cum delta)."""
    actuals = _actuals(behind)
    plan, actual = sum(PLANS[:CURRENT_ROW]) + SO_FAR, sum(actuals)
    now = datetime.fromtimestamp(SAMPLE_NOW, UTC)
    calls = [
        {
            "id": 7 + i,
            "station": f"st{3 + i}",
            "category": cat,
            "state": "raised",
            "raised_at": _iso(now - timedelta(seconds=252 + 60 * i)),
            "tier": tier,
            "tier_index": ti,
        }
        for i, (cat, tier, ti) in enumerate(
            [
                ("material", "team_leader", 0),
                ("quality", "supervisor", 1),
                ("safety", "team_leader", 0),
                ("maintenance", "team_leader", 0),
            ][:andons]
        )
    ]
    signal = ("escalated" if any(c["tier_index"] for c in calls) else "raised") if calls else None
    row_delta = actuals[CURRENT_ROW] - SO_FAR
    return {
        "line": line,
        "name": name,
        "at": _iso(now),
        "condition": condition or ("abnormal" if behind else "normal"),
        "reason": f"{plan - actual} behind" if behind else "ahead",
        "shift": {
            "id": "early",
            "name": "early",
            "date": "2026-11-28",
            "start": _iso(SHIFT_START),
            "end": _iso(SHIFT_START + timedelta(hours=8)),
        },
        "takt_seconds": 60.0,
        "plan_to_date": plan,
        "actual_to_date": actual,
        "scrap_to_date": 1,
        "delta": actual - plan,
        "shift_target": sum(PLANS),
        "current_interval": {
            "start": _iso(SHIFT_START + timedelta(hours=CURRENT_ROW)),
            "end": _iso(SHIFT_START + timedelta(hours=CURRENT_ROW + 1)),
            "planned": PLANS[CURRENT_ROW],
            "planned_so_far": SO_FAR,
            "actual": actuals[CURRENT_ROW],
            "delta": row_delta,
            "condition": _row_condition(row_delta),
        },
        "last_count_at": _iso(now - timedelta(seconds=20)),
        "sources": [{"id": "plc", "online": True, "stale": False, "last_seen": _iso(now), "detail": ""}],
        "open_andons": calls,
        "andon": signal,
    }


class SampleData:
    """The JSON a sample API serves; tests change it while the server runs."""

    def __init__(self, states: list[dict[str, Any]], boards: dict[str, dict[str, Any]]) -> None:
        self.states = {s["line"]: s for s in states}
        self.boards = boards
        self.messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def publish(self, line: str, state: dict[str, Any]) -> None:
        """Replace a line's state and push it to WebSocket clients, as the real server does."""
        with self._lock:
            self.states[line] = state
            self.messages.append({"type": "state", "line": line, "state": copy.deepcopy(state)})

    def connect(self) -> tuple[list[dict[str, Any]], int]:
        """Return every line's state as the messages a new client gets first, and where its pushes start."""
        with self._lock:
            first = [{"type": "state", "line": line, "state": copy.deepcopy(s)} for line, s in self.states.items()]
            return first, len(self.messages)

    def messages_since(self, index: int) -> list[dict[str, Any]]:
        """Return the pushed messages from ``index`` on."""
        with self._lock:
            return list(self.messages[index:])

    def state(self, line: str) -> dict[str, Any] | None:
        """Return a copy of one line's state."""
        found = self.states.get(line)
        return copy.deepcopy(found) if found is not None else None


def sample_api(data: SampleData) -> FastAPI:
    """Return a FastAPI app serving ``data`` at the documented state and board paths."""
    app = FastAPI(title="sample andon API")

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/lines")
    def lines() -> list[dict[str, Any]]:
        return [{"id": line, "name": s.get("name"), "state": copy.deepcopy(s)} for line, s in data.states.items()]

    @app.get("/api/lines/{line}/state")
    def state(line: str) -> dict[str, Any]:
        found = data.state(line)
        if found is None:
            raise HTTPException(404, f"no line {line!r}")
        return found

    @app.get("/api/lines/{line}/board")
    def board(line: str) -> dict[str, Any]:
        found = data.boards.get(line)
        if found is None:
            raise HTTPException(404, f"no board for line {line!r}")
        return copy.deepcopy(found)

    @app.websocket("/ws")
    async def ws(socket: WebSocket) -> None:
        await socket.accept()
        first, sent = data.connect()  # as the real server does: every line's state once on connect
        try:
            for message in first:
                await socket.send_json(message)
            while True:
                for message in data.messages_since(sent):
                    await socket.send_json(message)
                    sent += 1
                try:
                    received = await asyncio.wait_for(socket.receive(), timeout=0.05)
                except TimeoutError:
                    continue
                if received["type"] == "websocket.disconnect":
                    return
        except (WebSocketDisconnect, RuntimeError):  # the client went away
            return

    return app


def main(argv: list[str] | None = None) -> None:
    """Serve a sample plant of three lines on 127.0.0.1 (for the benchmark and for trying out)."""
    import uvicorn

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    states = [
        sample_state("line1", "Assembly 1", behind=True, andons=1),
        sample_state("line2", "Assembly 2", behind=False),
        sample_state("line3", "Paint", behind=False, condition="off"),
    ]
    boards = {s["line"]: sample_board(s["line"], s["name"], behind=s["delta"] < 0) for s in states}
    uvicorn.run(
        sample_api(SampleData(states, boards)),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
