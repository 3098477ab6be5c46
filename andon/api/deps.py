"""Services handed to request handlers with ``Depends``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import HTTPException, Request

from andon.clock import Clock
from andon.config.schema import Config
from andon.line import LineRuntime
from andon.payload import excerpt
from andon.plant import Plant, UnknownLine
from andon.storage.store import Store


@dataclass
class Services:
    """Everything the API needs, built once per process."""

    config: Config
    plant: Plant
    store: Store
    clock: Clock
    extras: dict[str, Any] = field(default_factory=dict)


def get_services(request: Request) -> Services:
    """Return the process's services."""
    services: Services = request.app.state.services
    return services


def get_plant(request: Request) -> Plant:
    """Return the plant service."""
    return get_services(request).plant


def get_line(line: str, request: Request) -> LineRuntime:
    """Return the runtime of the line named in the path, or 404."""
    try:
        return get_plant(request).line(line)
    except UnknownLine:
        raise HTTPException(404, f"no line {excerpt(line)}; GET /api/lines lists the lines") from None
