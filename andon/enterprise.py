"""The enterprise view: this plant and the other plants' servers side by side, each read from its own API.

Every plant is asked at once (``GET <url>/api/lines``) and given ``enterprise.timeout_seconds`` to answer; a plant
that does not answer, refuses the token or answers something that is not an andon server's line list is shown
as unreachable with the reason, and the others are shown all the same. Totals add up the plants that answered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from andon import failover
from andon.config.schema import EnterpriseConfig, PlantLinkConfig
from andon.payload import excerpt

log = logging.getLogger(__name__)

FIGURES = ("plan_to_date", "actual_to_date", "delta")


class _RemoteState(BaseModel):
    """What the view takes of another server's line state (the rest is ignored)."""

    model_config = ConfigDict(extra="ignore")
    condition: str = Field(max_length=32)
    reason: str = Field(max_length=512)
    plan_to_date: int
    actual_to_date: int
    delta: int
    open_andons: list[Any] = Field(default_factory=list)


class _RemoteLine(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(max_length=64)
    name: str = Field(max_length=128)
    state: _RemoteState


REMOTE_LINES = TypeAdapter(list[_RemoteLine])


def plant_view(plant_id: str, name: str, url: str | None, lines: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Sum one plant's line states (``{"id", "name", "state"}`` as GET /api/lines gives them)."""
    rows = []
    for line in lines:
        state = line["state"]
        rows.append({
            "line": line["id"], "name": line["name"], "condition": state["condition"], "reason": state["reason"],
            **{k: state[k] for k in FIGURES}, "open_andons": len(state.get("open_andons") or []),
        })
    conditions = [r["condition"] for r in rows]
    return {
        "id": plant_id, "name": name, "url": url, "reachable": True, "error": None, "lines": rows,
        **{k: sum(r[k] for r in rows) for k in FIGURES},
        "abnormal": conditions.count("abnormal"), "warning": conditions.count("warning"),
        "stale": conditions.count("stale"), "open_andons": sum(r["open_andons"] for r in rows),
    }


def unreachable(link: PlantLinkConfig, error: str) -> dict[str, Any]:
    """Describe a plant that could not be read."""
    return {
        "id": link.id, "name": link.name or link.id, "url": link.url, "reachable": False, "error": error, "lines": [],
        **dict.fromkeys(FIGURES), "abnormal": None, "warning": None, "stale": None, "open_andons": None,
    }


async def read_plant(link: PlantLinkConfig, timeout: float) -> dict[str, Any]:
    """Read another plant's lines (from the active one of its pair, when its URL names two); never raise (an
    error is the plant shown unreachable)."""
    headers = {"Authorization": f"Bearer {link.token}"} if link.token else {}
    try:
        async with failover.async_client(failover.servers(link.url), timeout=timeout,
                                         follow_redirects=False) as client:
            reply = await asyncio.wait_for(client.get("/api/lines", headers=headers), timeout)
    except TimeoutError:
        return unreachable(link, f"no answer within {timeout:g} s")
    except httpx.HTTPError as exc:
        return unreachable(link, f"cannot connect: {type(exc).__name__}: {excerpt(str(exc), 120)}")
    if reply.status_code != 200:
        detail = ""
        try:
            body = reply.json()
            detail = f": {excerpt(body.get('detail'), 120)}" if isinstance(body, dict) and body.get("detail") else ""
        except ValueError:
            pass
        return unreachable(link, f"HTTP {reply.status_code}{detail}")
    try:
        lines = REMOTE_LINES.validate_json(reply.content)
    except ValidationError:
        return unreachable(link, "the answer is not an andon server's line list")
    view = plant_view(link.id, link.name or link.id, link.url, [line.model_dump() for line in lines])
    log.debug("enterprise: plant %s read (%d lines)", link.id, len(view["lines"]))
    return view


async def enterprise_view(config: EnterpriseConfig, here: dict[str, Any]) -> dict[str, Any]:
    """Return this plant (``here``, from ``plant_view``) and every configured plant, with totals of those read."""
    others = await asyncio.gather(*(read_plant(link, config.timeout_seconds) for link in config.plants))
    plants = [here, *others]
    read = [p for p in plants if p["reachable"]]
    for plant in others:
        if not plant["reachable"]:
            log.warning("enterprise: plant %s at %s unreachable: %s", plant["id"], plant["url"], plant["error"])
    return {
        "plants": plants,
        "totals": {
            "plants": len(plants), "reachable": len(read), "lines": sum(len(p["lines"]) for p in read),
            **{k: sum(p[k] for p in read) for k in FIGURES},
            **{k: sum(p[k] for p in read) for k in ("abnormal", "warning", "stale", "open_andons")},
        },
    }
